"""What a site adds to a project's package: pin overrides and quilt patches."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg.errors import UsageError
from venvpkg.files import Store, place
from venvpkg.index import Index, choose
from venvpkg.release import wheels as wheelbuild

if TYPE_CHECKING:
    from venvpkg.debianize import Release, Request


def override_wheels(
    request: Request, index: Index, release: Release, workdir: Path, logs: Path
) -> dict[NormalizedName, Path]:
    """Wheels for `[projects.NAME] pins`, fetched (or built offline) for the target."""
    found: dict[NormalizedName, Path] = {}
    store = Store(workdir / "cache" / "files")
    for raw_name, raw_version in dict(request.options.get("pins", {})).items():
        name, version = canonicalize_name(raw_name), Version(str(raw_version))
        artifact = choose(index.files(name, version), request.target)
        if artifact is None:
            raise UsageError(
                f"pin override {name}=={version}: no wheel or sdist for {request.target.name}",
                f"check the version in [projects.{request.project}] pins",
            )
        digest = index.download(artifact, store)
        slot = workdir / "cache" / "overrides" / digest
        slot.mkdir(parents=True, exist_ok=True)
        if artifact.is_wheel:
            wheel = slot / artifact.filename
            place(store.path(digest), wheel)
        else:
            sdist = slot / artifact.filename
            place(store.path(digest), sdist)
            wheel = next(iter(sorted(slot.glob("*.whl"))), None) or wheelbuild.build_wheel(
                sdist,
                name,
                version,
                python=wheelbuild.build_environment(request.target, workdir),
                find_links=release.wheelhouse,
                constraints=release.wheelhouse / "build-constraints.txt",
                output=slot,
                log=logs / f"override-{name}.log",
                source_date_epoch="1577836800",
            )
        found[name] = wheel
    return found


def add_overrides(debian: Path, overrides: dict[NormalizedName, Path]) -> None:
    """Override wheels travel in debian/wheels, declared as binaries for dpkg-source."""
    if not overrides:
        return
    (debian / "wheels").mkdir(exist_ok=True)
    for wheel in overrides.values():
        shutil.copyfile(wheel, debian / "wheels" / wheel.name)
    listed = "".join(f"debian/wheels/{w.name}\n" for w in sorted(overrides.values()))
    (debian / "source" / "include-binaries").write_text(listed)


def add_patches(debian: Path, directory: str | None) -> None:
    """Quilt patches from a site directory, applied in name order."""
    if not directory:
        return
    patches = sorted(Path(directory).glob("*.patch")) + sorted(Path(directory).glob("*.diff"))
    if not patches:
        raise UsageError(f"no *.patch files in {directory}", "check [projects.NAME] patches")
    (debian / "patches").mkdir(exist_ok=True)
    for patch in patches:
        shutil.copyfile(patch, debian / "patches" / patch.name)
    (debian / "patches" / "series").write_text("".join(f"{p.name}\n" for p in patches))
