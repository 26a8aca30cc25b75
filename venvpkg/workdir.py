"""The on-disk layout: every path under WORKDIR is built here, and nowhere else.

Everything that belongs to one Debian release and series is named DIST-SERIES
(bookworm-2025.2), the order of the repository's codenames. Caches that every series
shares are keyed by content or by target only.

    cache/        files (by sha256), index listings, metadata, resolves, built wheels
    wheelhouse/   DIST-SERIES/: the wheels, constraints and lock of a release
    debs/         DIST-SERIES/: the requirements package and built .debs, with their records
    src/          DIST-SERIES/: debianized source packages, with their records
    chroots/      build and test chroot tarballs
    repo/, gnupg/ the signed repository and its key (unless configured elsewhere)
    reports/      test records and the status report
    watch/        what `venvpkg watch` shipped per DIST-SERIES, and its decisions
    logs/, locks/, tmp/, tools/, requirements/
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venvpkg import records
from venvpkg.files import Store


@dataclass(frozen=True)
class ReleasePaths:
    """Where one release (a dist and a series) keeps its files."""

    key: str
    wheelhouse: Path
    debs: Path
    sources: Path
    logs: Path
    lock: Path

    @property
    def staging(self) -> Path:
        """The next wheelhouse, built beside the current one and renamed into place."""
        return self.wheelhouse.with_name(f".{self.key}.new")

    @property
    def record(self) -> Path:
        """The record of the requirements package (records.ReleaseRecord)."""
        return self.debs / "release.json"

    @property
    def builds(self) -> Path:
        """One records.BuildRecord per built source package."""
        return self.debs / "builds"

    @property
    def debianized(self) -> Path:
        """One records.SourceRecord per debianized project version."""
        return self.sources / "inputs"

    @property
    def revisions(self) -> Path:
        return self.sources / "revisions.json"


@dataclass(frozen=True)
class Workdir:
    root: Path

    def release(self, dist: str, series: str) -> ReleasePaths:
        key = f"{dist}-{series}"
        return ReleasePaths(
            key,
            wheelhouse=self.root / "wheelhouse" / key,
            debs=self.root / "debs" / key,
            sources=self.root / "src" / key,
            logs=self.log(f"release-{key}"),
            lock=self.lock(f"release-{key}"),
        )

    def log(self, name: str) -> Path:
        """A log file or, for a stage with several, its directory."""
        return self.root / "logs" / name

    def lock(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"

    @property
    def data(self) -> Path:
        """What `venvpkg update` fetched: openstack/releases and openstack/requirements."""
        return self.root / "data"

    def cache(self, kind: str) -> Path:
        """A cache shared by every series and target: index, requires, resolve, ..."""
        return self.root / "cache" / kind

    @property
    def store(self) -> Store:
        """Every fetched file, by sha256."""
        return Store(self.cache("files"))

    def built_wheels(self, dist: str, recipe: str) -> Path:
        """Wheels compiled from sdists, per target and compile recipe."""
        return self.cache("built") / f"{dist}-{recipe}"

    def build_tools(self, dist: str, python: tuple[int, int]) -> Path:
        """The venv of the target's interpreter that runs `pip wheel`."""
        return self.root / "tools" / f"{dist}-py{python[0]}.{python[1]}"

    def resolve_tools(self, dist: str, python: tuple[int, int]) -> Path:
        """The venv of the target's interpreter that runs pip-compile for another release."""
        return self.root / "tools" / f"{dist}-py{python[0]}.{python[1]}-resolve"

    @property
    def tmp(self) -> Path:
        """Scratch space on the workdir's own file system, so results move in by rename."""
        return self.root / "tmp"

    @property
    def checkouts(self) -> Path:
        """Clones of openstack/requirements named by --requirements URL@REF."""
        return self.root / "requirements"

    @property
    def chroots(self) -> Path:
        return self.root / "chroots"

    @property
    def repository(self) -> Path:
        """The default repository; [publish] repository puts it elsewhere."""
        return self.root / "repo"

    @property
    def gnupg(self) -> Path:
        """The signing key venvpkg generates when none is configured."""
        return self.root / "gnupg"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def test_record(self, dist: str, series: str) -> Path:
        return self.reports / f"test-{dist}-{series}.json"

    def watch_record(self, dist: str, series: str) -> Path:
        return self.root / "watch" / f"{dist}-{series}.json"

    @property
    def watch_log(self) -> Path:
        """One line per decision of `venvpkg watch`, newest last."""
        return self.root / "watch" / "decisions.log"


def migrate(workdir: Workdir, targets: tuple[str, ...]) -> list[str]:
    """Move a workdir of the first layout to this one; return what was moved.

    The first layout named wheelhouses SERIES-DIST and kept the requirements package's
    record as debs/DIST-SERIES/state.json. Both are renamed; nothing else changed place.
    """
    moved = []
    wheelhouses = workdir.root / "wheelhouse"
    for old in sorted(wheelhouses.glob("*-*")) if wheelhouses.is_dir() else []:
        series, _, dist = old.name.rpartition("-")
        new = wheelhouses / f"{dist}-{series}"
        if dist in targets and old.is_dir() and not new.exists():
            old.rename(new)
            moved.append(f"{old} -> {new}")
    for state in sorted(workdir.root.glob("debs/*/state.json")):
        dist, _, series = state.parent.name.partition("-")
        paths = workdir.release(dist, series)
        if not paths.record.exists():
            records.write(paths.record, _first_record(json.loads(state.read_text()), paths))
            moved.append(f"{state} -> {paths.record}")
        state.unlink()
    return moved


def _first_record(state: dict[str, Any], paths: ReleasePaths) -> records.ReleaseRecord:
    """The first layout's state.json as a record; its paths are those of this workdir,
    not the absolute ones it kept (a copied workdir would point at the original)."""
    result = state["result"]
    return records.ReleaseRecord(
        paths.debs.name.partition("-")[0],
        paths.debs.name.partition("-")[2],
        result["package"],
        result["version"],
        paths.debs / state["deb"],
        result["lintian"],
        state["fingerprint"],
        int(state["recipe"]),
        paths.wheelhouse,
    )
