"""What each stage hands on to the next, as frozen dataclasses written and read here only.

release   -> ReleaseRecord  the requirements package, its wheelhouse, lock and fingerprint
debianize -> SourceRecord   a debianized source package (.dsc) and what it was made from
build     -> BuildRecord    the .debs built from one .dsc, and how they were checked
test      -> TestRecord     what the tests of one dist and series found
watch     -> WatchRecord    what `venvpkg watch` last shipped for one dist and series

Each is stored as JSON at the place venvpkg.workdir names. A record that is missing or
unreadable reads as None: the stage that writes it runs again.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from venvpkg.files import atomic_write_text

Record = TypeVar("Record")

# A requirements package's lintian verdict before `venvpkg publish` checks it.
NOT_CHECKED = ""


@dataclass(frozen=True)
class ReleaseRecord:
    """The requirements package of one dist and series, as `venvpkg release` left it."""

    dist: str
    series: str
    package: str
    version: str
    deb: Path
    lintian: str
    # Of the plan the package was packed from; a different plan repacks.
    fingerprint: str
    recipe: int
    wheelhouse: Path

    @property
    def lock(self) -> Path:
        return self.wheelhouse / "requirements.lock"

    @property
    def installed_dir(self) -> str:
        """Where the package puts the wheelhouse on the build machine."""
        return f"/usr/lib/venvpkg/wheelhouse/{self.series}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path) -> ReleaseRecord:
        return cls(
            **{k: data[k] for k in ("dist", "series", "package", "version", "lintian")},
            deb=_path(base, data["deb"]),
            fingerprint=data["fingerprint"],
            recipe=int(data["recipe"]),
            wheelhouse=_path(base, data["wheelhouse"]),
        )


@dataclass(frozen=True)
class SourceRecord:
    """A debianized project: its tree, .dsc, version and binary packages."""

    source_dir: Path
    dsc: Path
    version: str
    packages: tuple[str, ...]
    # Digest of every input (venvpkg.debianize.inputs) and of the .dsc it produced.
    inputs: str = ""
    dsc_sha256: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path) -> SourceRecord:
        return cls(
            _path(base, data["source_dir"]),
            _path(base, data["dsc"]),
            data["version"],
            tuple(data["packages"]),
            data.get("inputs", ""),
            data.get("dsc_sha256", ""),
        )


class BuildStatus(enum.StrEnum):
    BUILT = "built"
    CACHED = "cached"
    FAILED = "failed"


@dataclass(frozen=True)
class BuildRecord:
    """The outputs of one .dsc's build, kept beside them in debs/DIST-SERIES/."""

    source: str
    project: str
    version: str
    fingerprint: str
    debs: tuple[str, ...]
    sizes: Mapping[str, int]
    outputs: tuple[str, ...]
    lintian: str = ""
    reproducible: str = ""
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path) -> BuildRecord:
        return cls(
            **{k: data[k] for k in ("source", "project", "version", "fingerprint")},
            debs=tuple(data["debs"]),
            sizes=dict(data.get("sizes", {})),
            outputs=tuple(data.get("outputs", data["debs"])),
            lintian=data.get("lintian", ""),
            reproducible=data.get("reproducible", ""),
            seconds=float(data.get("seconds", 0.0)),
        )


@dataclass(frozen=True)
class Step:
    """One check of a test run."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class TestRecord:
    """What `venvpkg test` found for the packages of one dist and series."""

    __test__ = False  # not a pytest test class, whatever its name says

    dist: str
    series: str
    # Binary package -> version tested, from staging and from production.
    staging: Mapping[str, str]
    production: Mapping[str, str]
    steps: tuple[Step, ...] = ()
    seconds: float = 0.0
    log: str = ""
    # Source package -> version whose tests ran.
    sources: Mapping[str, str] = field(default_factory=dict)
    finished: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def passed_versions(self) -> set[tuple[str, str]]:
        """(package, version) pairs promote may copy: all of them, if every step passed."""
        if not self.passed:
            return set()
        return set(self.staging.items()) | set(self.sources.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path) -> TestRecord:
        return cls(
            data["dist"],
            data["series"],
            dict(data["staging"]),
            dict(data["production"]),
            tuple(Step(**s) for s in data.get("steps", ())),
            float(data.get("seconds", 0.0)),
            data.get("log", ""),
            dict(data.get("sources", {})),
            float(data.get("finished", 0.0)),
        )


@dataclass(frozen=True)
class Shipped:
    """One project as watch last shipped it, and what it was made from."""

    version: str
    # Digest of the project's site settings (projects.NAME, templates, patches).
    options: str
    # name -> "VERSION SHA256" of every wheel in the venv's lock.
    pins: Mapping[str, str]
    # The requirements data and the code this venv is current with ("": the record's own,
    # as records before farms kept them). A farm ships projects one at a time.
    requirements: str = ""
    code: str = ""


@dataclass(frozen=True)
class WatchRecord:
    """What the last round of `venvpkg watch` shipped for one dist and series."""

    dist: str
    series: str
    # Digest of the series' requirements data, and of venvpkg's code and templates.
    requirements: str
    code: str
    projects: Mapping[str, Shipped]
    finished: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path) -> WatchRecord:
        shipped = {name: Shipped(**entry) for name, entry in data["projects"].items()}
        return cls(
            data["dist"],
            data["series"],
            data["requirements"],
            data["code"],
            shipped,
            float(data.get("finished", 0.0)),
        )


def write(path: Path, record: Any) -> None:
    """Store a record atomically; computed fields (passed) go along for other readers.

    Paths are stored relative to the record, so a workdir that is moved or copied keeps
    records that point into itself.
    """
    data = asdict(record)
    for key, value in data.items():
        if isinstance(value, Path):
            data[key] = os.path.relpath(value, path.parent)
    if isinstance(record, TestRecord):
        data["passed"] = record.passed
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def read(path: Path, load: Callable[[Mapping[str, Any], Path], Record]) -> Record | None:
    """The record at `path`, or None when there is none or it cannot be read."""
    try:
        return load(json.loads(path.read_text()), path.parent)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _path(base: Path, stored: str) -> Path:
    """A stored path, relative to the record's directory (or absolute, as first recorded)."""
    return Path(os.path.normpath(base / stored))
