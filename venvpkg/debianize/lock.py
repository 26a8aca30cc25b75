"""The venv's lock: exactly the wheels of the release wheelhouse that the project needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from venvpkg import metadata
from venvpkg.config import ProjectSettings
from venvpkg.debianize.model import ProjectModel
from venvpkg.errors import DataError
from venvpkg.files import sha256_file
from venvpkg.records import ReleaseRecord
from venvpkg.release import resolve
from venvpkg.release.lock import read_lock
from venvpkg.targets import Target


@dataclass(frozen=True)
class VenvLock:
    text: str
    pins: dict[NormalizedName, Version]


def wheelhouse_pins(release: ReleaseRecord) -> dict[NormalizedName, tuple[Version, str]]:
    """name -> (version, sha256) of every wheel in the release's wheelhouse."""
    return read_lock(release.lock)


def venv_lock(
    project: ProjectModel,
    release: ReleaseRecord,
    target: Target,
    options: ProjectSettings,
    overrides: dict[NormalizedName, Path] | None = None,
) -> VenvLock:
    """Walk the project's requirements through the wheelhouse; anything missing is an error.

    `overrides` are wheels that replace a pin of the wheelhouse (a security fix).
    """
    pins = wheelhouse_pins(release)
    wheels = {parse_wheel_filename(w.name)[0]: w for w in release.wheelhouse.glob("*.whl")}
    for name, wheel in (overrides or {}).items():
        pins[name] = (parse_wheel_filename(wheel.name)[1], sha256_file(wheel))
        wheels[name] = wheel
    extras = ",".join(options.extras)
    own = f"{project.dist_name}{f'[{extras}]' if extras else ''}=={project.version}"
    roots = [own, *options.extra_packages]

    def lookup(name: NormalizedName, version: Version) -> list[str] | None:
        if name == canonicalize_name(project.dist_name):
            return list(project.requires)
        return metadata.from_core_metadata(metadata.wheel_metadata(wheels[name]))

    versions = {n: v for n, (v, _) in pins.items()}
    found = resolve.walk(roots, versions, target.marker_environment(), lookup, threads=4)
    # The series and the Debian release the wheelhouse serves, as the lock has always said.
    wheelhouse = f"{release.series}-{release.dist}"
    _check(found, project, wheelhouse)
    chosen = {n: v for n, v in found.chosen.items() if n != canonicalize_name(project.dist_name)}
    lines = [
        f"# {project.name} {project.version}: its dependencies from {wheelhouse}",
        *(
            f"{name}=={version} \\\n    --hash=sha256:{pins[name][1]}"
            for name, version in sorted(chosen.items())
        ),
    ]
    return VenvLock("\n".join(lines) + "\n", chosen)


def _check(found: resolve.Walk, project: ProjectModel, wheelhouse: str) -> None:
    if found.conflicts:
        raise DataError(
            f"{project.name} {project.version} does not fit {wheelhouse}: {found.conflicts[0]}",
            "use the project version of this series, or a pin override the requirements allow",
        )
    if found.unpinned:
        names = ", ".join(sorted(found.unpinned))
        raise DataError(
            f"the wheelhouse {wheelhouse} lacks what {project.name} needs: {names}",
            f"run: venvpkg release SERIES --projects {project.name} (with its extra packages)",
        )
