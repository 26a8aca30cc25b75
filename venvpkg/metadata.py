"""What a distribution requires, read from its core metadata without building it.

Wheels always carry trustworthy metadata. An sdist does when its PKG-INFO is metadata
2.2+ and does not declare Requires-Dist dynamic, or when it ships setuptools' egg-info
(pbr and setuptools sdists do); otherwise only a build can tell, and callers fall back
to pip's resolver.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.metadata import RawMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

EGG_INFO = re.compile(r"^[^/]+/(?:src/)?[^/]+\.egg-info/(PKG-INFO|requires\.txt)$")
TOP_PKG_INFO = re.compile(r"^[^/]+/PKG-INFO$")


def _raw(text: bytes) -> RawMetadata:
    """Core metadata's fields, unvalidated: a published file's odd field is not ours to fix."""
    raw, _unparsed = parse_email(text)
    return raw


def holds(requirement: Requirement, environment: dict[str, str]) -> bool:
    """Whether a requirement applies in `environment`. A marker that cannot be evaluated
    (2023.1 has python_version === ... in some metadata) does not apply."""
    if requirement.marker is None:
        return True
    try:
        return requirement.marker.evaluate(environment)
    except (UndefinedComparison, UndefinedEnvironmentName):
        return False


def requirements(lines: list[str]) -> list[Requirement]:
    """Parseable requirements; a malformed line in a published file is not ours to fix."""
    return [r for r in map(_parsed, lines) if r is not None]


@functools.lru_cache(maxsize=65536)
def _parsed(line: str) -> Requirement | None:
    # A full release walks every service's closure: ~5000 parses of a few hundred
    # distinct lines, 1.8 s of a 5 s no-op. Requirements are only read, never changed.
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def from_core_metadata(text: bytes) -> list[str]:
    """Requires-Dist of a METADATA or PKG-INFO file."""
    return list(_raw(text).get("requires_dist", []))


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        return archive.read(name)


def wheel_requires(wheel: Path) -> list[Requirement]:
    """Requires-Dist of a wheel."""
    return requirements(from_core_metadata(wheel_metadata(wheel)))


class _EggInfo(importlib.metadata.Distribution):
    """An egg-info directory held in memory, so importlib.metadata can read requires.txt."""

    def __init__(self, files: dict[str, str]) -> None:
        self._files = files

    def read_text(self, filename: str) -> str | None:
        return self._files.get(filename)

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        raise NotImplementedError("an in-memory egg-info has no files on disk")


def sdist_members(sdist: Path, key: Callable[[str], str | None]) -> dict[str, bytes]:
    """Files of an sdist (tar or zip) that `key` names; the first of a name wins."""
    found: dict[str, bytes] = {}
    # Stored files are named by digest, so the format is read from the content.
    if zipfile.is_zipfile(sdist):
        with zipfile.ZipFile(sdist) as zipped:
            for name in zipped.namelist():
                wanted = key(name)
                if wanted:
                    found.setdefault(wanted, zipped.read(name))
        return found
    with tarfile.open(sdist) as archive:
        for member in archive:
            wanted = key(member.name) if member.isfile() else None
            stream = archive.extractfile(member) if wanted else None
            if wanted and stream is not None:
                found.setdefault(wanted, stream.read())
    return found


def _metadata_file(name: str) -> str | None:
    """Top-level PKG-INFO and egg-info metadata files, under short keys."""
    if TOP_PKG_INFO.match(name):
        return "PKG-INFO"
    match = EGG_INFO.match(name)
    return f"egg-info/{match.group(1)}" if match else None


def sdist_requires(sdist: Path) -> list[str] | None:
    """Requires-Dist of an sdist, or None when only building it could tell."""
    members = sdist_members(sdist, _metadata_file)
    if "PKG-INFO" in members and _static_requires(_raw(members["PKG-INFO"])):
        return from_core_metadata(members["PKG-INFO"])
    if "egg-info/PKG-INFO" in members:
        egg = _EggInfo(
            {
                "PKG-INFO": members["egg-info/PKG-INFO"].decode("utf-8", "replace"),
                "requires.txt": members.get("egg-info/requires.txt", b"").decode(
                    "utf-8", "replace"
                ),
            }
        )
        return list(egg.requires or [])
    return None


def is_version(text: str) -> bool:
    """A PEP 440 version, not a tag such as queens-eol or 2023.1-eom."""
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _static_requires(raw: RawMetadata) -> bool:
    """PEP 643: from metadata 2.2 on, fields not listed as Dynamic are final."""
    try:
        version = Version(raw.get("metadata_version", "1.0"))
    except InvalidVersion:
        return False
    dynamic = {d.lower() for d in raw.get("dynamic", [])}
    return version >= Version("2.2") and "requires-dist" not in dynamic
