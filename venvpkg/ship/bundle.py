"""Move one build between workdirs: a worker exports it, the machine that holds the
repository imports it.

A bundle is a tar of everything `venvpkg publish` takes from a build (the .debs, the
.changes and .buildinfo, the source package, the build record, the venv's lock, the
requirements package it was built against and its record) and a manifest that names
each file's sha256. Import checks every file against the manifest before anything moves,
places files before records (records are what publish reads), and takes the revision
the worker chose, so the next build of that version counts on from it. A bundle cut
short on the way, or altered, is refused naming the file; a half-imported one never
becomes a publishable build.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Dsc
from debian.debian_support import Version as DebianVersion

from venvpkg import __version__, records
from venvpkg.config import Settings
from venvpkg.errors import DataError, UsageError
from venvpkg.files import atomic_write, atomic_write_text, exclusive, place, sha256_file
from venvpkg.records import BuildRecord, ReleaseRecord
from venvpkg.workdir import ReleasePaths

FORMAT = 1
MANIFEST = "MANIFEST.json"
# Where each kind of file lives in the bundle; import puts each back in its place.
DEBS, SOURCES, BUILDS, REQUIREMENTS = "debs", "sources", "builds", "requirements"
KINDS = (DEBS, SOURCES, BUILDS, REQUIREMENTS)


@dataclass(frozen=True)
class Bundle:
    path: Path
    dist: str
    series: str
    project: str
    version: str
    files: int


def newest_build(paths: ReleasePaths, project: str) -> tuple[Path, BuildRecord]:
    """The build record of a project's newest Debian version in one dist and series."""
    found = []
    for path in paths.builds.glob(f"venv-{project}_*.json"):
        record = records.read(path, BuildRecord.from_dict)
        if record is not None and record.project == project:
            found.append((DebianVersion(record.version), path, record))
    if not found:
        raise UsageError(
            f"no build of {project} for {paths.key}",
            f"build it first: venvpkg build {project}",
        )
    _, path, record = max(found, key=lambda each: each[0])
    return path, record


def venv_lock(paths: ReleasePaths, build: Path, record: BuildRecord) -> Path:
    """The lock the venv was installed from: beside an imported build's record, else in
    the debianized tree it was built from."""
    beside = build.with_suffix(".lock")
    if beside.exists():
        return beside
    return paths.sources / record.source / "debian" / "requirements.lock"


def export(settings: Settings, dist: str, series: str, project: str, dest: Path) -> Bundle:
    """Write the newest build of `project` as a bundle at `dest` (atomically)."""
    paths = settings.paths.release(dist, series)
    build, record = newest_build(paths, project)
    members = _members(paths, build, record)
    missing = [str(p) for p in members.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"the build of {project} {record.version} lacks {missing[0]}",
            f"build it again: venvpkg build {project} --rebuild",
        )
    manifest = {
        "format": FORMAT,
        "venvpkg": __version__,
        "dist": dist,
        "series": series,
        "project": project,
        "source": record.source,
        "version": record.version,
        "files": {name: sha256_file(path) for name, path in sorted(members.items())},
        "revision": _revision(paths, project, record),
    }
    with atomic_write(dest) as stream, tarfile.open(fileobj=stream, mode="w") as tar:
        _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
        for name, path in sorted(members.items()):
            tar.add(path, arcname=name, recursive=False)
    return Bundle(dest, dist, series, project, record.version, len(members))


def _members(paths: ReleasePaths, build: Path, record: BuildRecord) -> dict[str, Path]:
    members = {f"{DEBS}/{name}": paths.debs / name for name in record.outputs}
    members[f"{BUILDS}/{build.name}"] = build
    members[f"{BUILDS}/{build.stem}.lock"] = venv_lock(paths, build, record)
    dsc = paths.sources / f"{build.stem}.dsc"
    if dsc.exists():
        members[f"{SOURCES}/{dsc.name}"] = dsc
        with dsc.open() as stream:
            for listed in Dsc(stream).get("Files", []):
                members[f"{SOURCES}/{listed['name']}"] = paths.sources / listed["name"]
    release = records.read(paths.record, ReleaseRecord.from_dict)
    if release is not None:
        members[f"{REQUIREMENTS}/{release.deb.name}"] = release.deb
        members[f"{REQUIREMENTS}/release.json"] = paths.record
    return members


def _revision(paths: ReleasePaths, project: str, record: BuildRecord) -> dict[str, Any]:
    """The revision the worker gave this upstream version, keyed as debianize keys it."""
    upstream = record.source.removeprefix(f"venv-{project}-")
    key = f"{project}-{upstream}"
    return {"key": key, **_known_revisions(paths).get(key, {})}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    with tempfile.TemporaryFile() as stream:
        stream.write(data)
        stream.seek(0)
        tar.addfile(info, stream)


def import_bundle(settings: Settings, source: Path) -> Bundle:
    """Check a bundle against its manifest, then make it this workdir's newest build of
    its project (publish, test and promote take it from there)."""
    settings.paths.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.paths.tmp, prefix="import-") as scratch:
        unpacked = Path(scratch)
        manifest = _unpack(source, unpacked)
        paths = settings.paths.release(manifest["dist"], manifest["series"])
        with exclusive(paths.lock):
            # Refused before a file moves: a refused bundle leaves the workdir as it was.
            _check_revision(paths, manifest["revision"])
            _place(unpacked, manifest, paths)
    return Bundle(
        source,
        manifest["dist"],
        manifest["series"],
        manifest["project"],
        manifest["version"],
        len(manifest["files"]),
    )


def _unpack(source: Path, into: Path) -> dict[str, Any]:
    """Extract and check every file; nothing outside the manifest, nothing missing."""
    try:
        with tarfile.open(source) as tar:
            for member in tar:
                _extract(tar, member, into, source)
    except (OSError, tarfile.TarError) as error:
        raise DataError(
            f"{source} is not a whole venvpkg bundle ({error})",
            "export it again on the worker: venvpkg export PROJECT --to FILE",
        ) from None
    manifest = _manifest(source, into)
    present = {str(p.relative_to(into)) for p in into.rglob("*") if p.is_file()} - {MANIFEST}
    extra = sorted(present - set(manifest["files"]))
    if extra:
        raise DataError(
            f"{source} holds {extra[0]}, which its manifest does not name",
            "import only bundles venvpkg export wrote",
        )
    for name, digest in manifest["files"].items():
        path = into / name
        if not path.is_file():
            raise DataError(
                f"{source} lacks {name}, which its manifest names",
                "the upload was cut short: export it again",
            )
        if sha256_file(path) != digest:
            raise DataError(
                f"{name} in {source} does not match the sha256 its manifest names",
                "the bundle was altered or damaged on the way: export it again",
            )
    return manifest


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, into: Path, source: Path) -> None:
    """One regular file, inside `into` (Python 3.11.2 has no extraction filter yet)."""
    parts = Path(member.name).parts
    if not member.isfile() or member.name.startswith("/") or ".." in parts:
        raise DataError(
            f"{source} holds {member.name!r}, which is not a plain file of a bundle",
            "import only bundles venvpkg export wrote",
        )
    target = into / member.name
    target.parent.mkdir(parents=True, exist_ok=True)
    stream = tar.extractfile(member)
    assert stream is not None  # a regular file always has a stream
    with stream, target.open("wb") as out:
        shutil.copyfileobj(stream, out)


def _manifest(source: Path, into: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((into / MANIFEST).read_text())
        if manifest["format"] != FORMAT:
            raise ValueError(f"format {manifest['format']}")
        # A KeyError names what is missing.
        for key in ("dist", "series", "project", "version", "files", "revision"):
            manifest[key]
        for name, digest in dict(manifest["files"]).items():
            kind, _, file = str(name).partition("/")
            if kind not in KINDS or not file or "/" in file or file.startswith("."):
                raise ValueError(f"a file named {name!r}")
            if not isinstance(digest, str):
                raise ValueError(f"a digest of {name!r} that is not text")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{source} has no readable manifest ({error})",
            "import only bundles venvpkg export wrote, by the same venvpkg version",
        ) from None
    return dict(manifest)


def _place(unpacked: Path, manifest: dict[str, Any], paths: ReleasePaths) -> None:
    """Files first, then the revision, then records: a run killed half-way leaves files
    no record names, which publish never reads and the next import overwrites."""
    homes = {DEBS: paths.debs, SOURCES: paths.sources, REQUIREMENTS: paths.debs}
    held: list[tuple[Path, Path]] = []
    for name in manifest["files"]:
        kind, _, file = name.partition("/")
        if kind == BUILDS or (kind == REQUIREMENTS and file == "release.json"):
            held.append((unpacked / name, paths.builds / file if kind == BUILDS else paths.record))
            continue
        place(unpacked / name, homes[kind] / file)
    _take_revision(paths, manifest["revision"])
    for path, home in sorted(held, key=lambda each: each[1].suffix != ".lock"):
        if home == paths.record:
            _place_release_record(path, paths)
        else:
            place(path, home)
    _drop_older(paths, manifest)


def _drop_older(paths: ReleasePaths, manifest: dict[str, Any]) -> None:
    """Other revisions of the same source go, as a local build drops them: publish must
    not offer them again."""
    keep = {name.partition("/")[2] for name in manifest["files"]}
    for path in paths.builds.glob(f"venv-{manifest['project']}_*.json"):
        record = records.read(path, BuildRecord.from_dict)
        if record is None or record.source != manifest.get("source") or path.name in keep:
            continue
        for name in record.outputs:
            if name not in keep:
                (paths.debs / name).unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)
        path.unlink()


def _place_release_record(path: Path, paths: ReleasePaths) -> None:
    """The worker's record, pointing at the package where this workdir keeps it."""
    record = ReleaseRecord.from_dict(json.loads(path.read_text()), path.parent)
    placed = ReleaseRecord(
        **{
            **record.__dict__,
            "deb": paths.debs / record.deb.name,
            "wheelhouse": paths.wheelhouse,
        }
    )
    paths.record.parent.mkdir(parents=True, exist_ok=True)
    records.write(paths.record, placed)


def _known_revisions(paths: ReleasePaths) -> dict[str, Any]:
    return dict(json.loads(paths.revisions.read_text())) if paths.revisions.is_file() else {}


def _check_revision(paths: ReleasePaths, revision: dict[str, Any]) -> None:
    """The same number for other inputs is two contents under one version: refused."""
    if "revision" not in revision:
        return
    ours = _known_revisions(paths).get(revision["key"], {})
    if ours.get("revision") == revision["revision"] and ours.get("fingerprint") not in (
        None,
        revision.get("fingerprint"),
    ):
        raise DataError(
            f"{revision['key']} revision {revision['revision']} was already built here "
            "from other inputs",
            "two builds numbered one version alike: build it again so it counts on",
        )


def _take_revision(paths: ReleasePaths, revision: dict[str, Any]) -> None:
    """Revisions only rise: a build of a version another build already numbered higher
    keeps the higher number."""
    if "revision" not in revision:
        return
    known = _known_revisions(paths)
    key, ours = revision["key"], known.get(revision["key"], {})
    if int(ours.get("revision", 0)) <= int(revision["revision"]):
        known[key] = {k: v for k, v in revision.items() if k != "key"}
        paths.revisions.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths.revisions, json.dumps(known, indent=1, sort_keys=True))


def bundle_name(dist: str, series: str, project: str) -> str:
    return f"{dist}-{series}-{project}.venvpkg.tar"


def exported_path(dest: Path | None, dist: str, series: str, project: str) -> Path:
    """--to FILE, or a name in the current directory."""
    return (dest or Path(os.getcwd()) / bundle_name(dist, series, project)).absolute()
