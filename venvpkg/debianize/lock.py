"""The venv's lock: exactly the wheels of the release wheelhouse that the project needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from venvpkg import metadata
from venvpkg.debianize.model import ProjectModel
from venvpkg.errors import DataError
from venvpkg.files import sha256_file
from venvpkg.release import resolve
from venvpkg.targets import Target


@dataclass(frozen=True)
class VenvLock:
    text: str
    pins: dict[NormalizedName, Version]


def wheelhouse_pins(wheelhouse: Path) -> dict[NormalizedName, tuple[Version, str]]:
    """name -> (version, sha256) from a wheelhouse's requirements.lock."""
    found: dict[NormalizedName, tuple[Version, str]] = {}
    lines = (wheelhouse / "requirements.lock").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        if "==" not in line or line.lstrip().startswith("#"):
            continue
        spec, _, digest = line.partition("--hash=sha256:")
        name, _, version = spec.strip().partition("==")
        found[canonicalize_name(name)] = (Version(version), digest.strip())
    return found


def venv_lock(
    project: ProjectModel,
    wheelhouse: Path,
    target: Target,
    options: dict[str, Any],
    overrides: dict[NormalizedName, Path] | None = None,
) -> VenvLock:
    """Walk the project's requirements through the wheelhouse; anything missing is an error.

    `overrides` are wheels that replace a pin of the wheelhouse (a security fix).
    """
    pins = wheelhouse_pins(wheelhouse)
    wheels = {parse_wheel_filename(w.name)[0]: w for w in wheelhouse.glob("*.whl")}
    for name, wheel in (overrides or {}).items():
        pins[name] = (parse_wheel_filename(wheel.name)[1], sha256_file(wheel))
        wheels[name] = wheel
    extras = ",".join(options.get("extras", ()))
    own = f"{project.dist_name}{f'[{extras}]' if extras else ''}=={project.version}"
    roots = [own, *options.get("extra-packages", ())]

    def lookup(name: NormalizedName, version: Version) -> list[str] | None:
        if name == canonicalize_name(project.dist_name):
            return list(project.requires)
        return metadata.from_core_metadata(metadata.wheel_metadata(wheels[name]))

    versions = {n: v for n, (v, _) in pins.items()}
    found = resolve.walk(roots, versions, target.marker_environment(), lookup, threads=4)
    _check(found, project, wheelhouse)
    chosen = {n: v for n, v in found.chosen.items() if n != canonicalize_name(project.dist_name)}
    lines = [
        f"# {project.name} {project.version}: its dependencies from {wheelhouse.name}",
        *(
            f"{name}=={version} \\\n    --hash=sha256:{pins[name][1]}"
            for name, version in sorted(chosen.items())
        ),
    ]
    return VenvLock("\n".join(lines) + "\n", chosen)


def _check(found: resolve.Walk, project: ProjectModel, wheelhouse: Path) -> None:
    if found.conflicts:
        raise DataError(
            f"{project.name} {project.version} does not fit {wheelhouse.name}: "
            f"{found.conflicts[0]}",
            "use the project version of this series, or a pin override the requirements allow",
        )
    if found.unpinned:
        names = ", ".join(sorted(found.unpinned))
        raise DataError(
            f"the wheelhouse {wheelhouse.name} lacks what {project.name} needs: {names}",
            f"run: venvpkg release SERIES --projects {project.name} (with its extra packages)",
        )
