"""What a site adds to a project's package: pin overrides (its patches: patches.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg.errors import UsageError
from venvpkg.files import UNDATED_EPOCH, place
from venvpkg.index import choose
from venvpkg.release import buildroot, wheels

if TYPE_CHECKING:
    from venvpkg.debianize import Job


def override_wheels(job: Job) -> dict[NormalizedName, Path]:
    """Wheels for `[projects.NAME] pins`, fetched (or built offline) for the target."""
    found: dict[NormalizedName, Path] = {}
    request, workdir = job.request, job.settings.paths
    for raw_name, raw_version in request.options.pins.items():
        name, version = canonicalize_name(raw_name), Version(str(raw_version))
        artifact = choose(job.index.files(name, version), request.target)
        if artifact is None:
            raise UsageError(
                f"pin override {name}=={version}: no wheel or sdist for {request.target.name}",
                f"check the version in [projects.{request.project}] pins",
            )
        digest = job.index.download(artifact, workdir.store)
        slot = workdir.cache("overrides") / digest
        slot.mkdir(parents=True, exist_ok=True)
        fetched = slot / artifact.filename
        place(workdir.store.path(digest), fetched)
        found[name] = fetched if artifact.is_wheel else _built(job, fetched, name, version)
    return found


def _built(job: Job, sdist: Path, name: NormalizedName, version: Version) -> Path:
    """The override's sdist compiled offline against the release's wheelhouse, once."""
    slot = sdist.parent
    existing = next(iter(sorted(slot.glob("*.whl"))), None)
    if existing:
        return existing
    wheelhouse = job.release.wheelhouse
    target = job.request.target
    root = buildroot.for_target(target, job.settings, job.display)
    python = wheels.build_environment(target, job.settings.paths, root)
    constraints = wheelhouse / "build-constraints.txt"
    toolchain = wheels.Toolchain(root, python, wheelhouse, constraints, UNDATED_EPOCH)
    log = job.logs / f"override-{name}.log"
    return wheels.build_wheel(sdist, name, version, toolchain, slot, log)


def add_overrides(debian: Path, overrides: dict[NormalizedName, Path]) -> None:
    """Override wheels travel in debian/wheels, declared as binaries for dpkg-source."""
    if not overrides:
        return
    (debian / "wheels").mkdir(exist_ok=True)
    for wheel in overrides.values():
        shutil.copyfile(wheel, debian / "wheels" / wheel.name)
    listed = "".join(f"debian/wheels/{w.name}\n" for w in sorted(overrides.values()))
    (debian / "source" / "include-binaries").write_text(listed)
