"""The OpenStack series catalog: names, numbers, status, requirements refs, default targets.

Built from the bundled openstack/releases and openstack/requirements data, so it works
with only PyPI reachable.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from venvpkg import targets
from venvpkg.errors import UsageError
from venvpkg.targets import TARGETS, Target

# Python versions each series was tested with (OpenStack's "tested runtimes"); the
# default target is the first supported Debian release whose python3 falls in range.
PYTHON_RANGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "queens": ((2, 7), (3, 5)),
    "rocky": ((2, 7), (3, 6)),
    "stein": ((2, 7), (3, 7)),
    "train": ((2, 7), (3, 7)),
    "ussuri": ((3, 6), (3, 8)),
    "victoria": ((3, 6), (3, 8)),
    "wallaby": ((3, 6), (3, 9)),
    "xena": ((3, 6), (3, 9)),
    "yoga": ((3, 8), (3, 9)),
    "zed": ((3, 8), (3, 10)),
    "2023.1": ((3, 8), (3, 10)),
    "2023.2": ((3, 8), (3, 11)),
    "2024.1": ((3, 8), (3, 11)),
    "2024.2": ((3, 9), (3, 12)),
    "2025.1": ((3, 9), (3, 12)),
    "2025.2": ((3, 10), (3, 13)),
    "2026.1": ((3, 10), (3, 13)),
    "2026.2": ((3, 10), (3, 13)),
}


def python_range(series_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """A series' tested Pythons; one newer than venvpkg knows (from `venvpkg update`) is
    taken to test those of the newest it knows, as a new series mostly does."""
    return PYTHON_RANGES.get(series_id) or list(PYTHON_RANGES.values())[-1]


# OpenStack's maintained phase: 18 months from the release.
MAINTAINED_DAYS = 548
# Debian's support of each release we build for, as of 2026-12.
DEBIAN_SUPPORT = {"trixie": "stable", "bookworm": "oldstable, LTS", "bullseye": "past LTS"}
# Series none of whose tested Pythons any served Debian release has: the newest release
# on which their pins build and their code imports (queens' keystone closure, measured
# with the override set bullseye-queens.toml); the series between took the same.
WORKS_UNTESTED = {
    name: "bullseye" for name in ("queens", "rocky", "stein", "train", "ussuri", "victoria")
}


@dataclass(frozen=True)
class Series:
    """One OpenStack release series."""

    codename: str
    number: str | None
    status: str
    ref: str
    commit: str
    commit_date: str
    initial_release: str = ""

    def target_columns(self) -> list[str]:
        """Its default Debian release, and why that one."""
        return [self.default_target.name, self.target_reason]

    @property
    def maintained_until(self) -> str:
        """The end of the series' maintained phase (OpenStack maintains a release for 18
        months); after it the branch only takes fixes, not new tools."""
        if not self.initial_release:
            return ""
        day = datetime.date.fromisoformat(self.initial_release)
        return (day + datetime.timedelta(days=MAINTAINED_DAYS)).isoformat()

    @property
    def id(self) -> str:
        """The name used for directories and packages: the number where one exists."""
        return self.number or self.codename

    @property
    def label(self) -> str:
        return f"{self.number} ({self.codename})" if self.number else self.codename

    @property
    def default_target(self) -> Target:
        """The newest Debian release whose Python the series was tested with, else the
        newest on which it was measured to work."""
        tested = self.tested_targets()
        if tested:
            return max(tested, key=lambda t: t.debian_version)
        return TARGETS[WORKS_UNTESTED[self.id]]

    def tested_targets(self) -> list[Target]:
        low, high = python_range(self.id)
        return [t for t in TARGETS.values() if low <= t.python <= high]

    @property
    def target_reason(self) -> str:
        """Why the default target is the default, and how Debian supports it."""
        target = self.default_target
        why = "tested" if target in self.tested_targets() else "works, untested"
        return f"{why}; {DEBIAN_SUPPORT[target.name]}"


def untested(chosen: Series, target: Target) -> str | None:
    """Why `target` is a gamble for `chosen`, when its Python is outside the tested ones."""
    low, high = python_range(chosen.id)
    if low <= target.python <= high:
        return None
    tested = f"{low[0]}.{low[1]} to {high[0]}.{high[1]}"
    return (
        f"{chosen.label} was tested on Python {tested}; {target.name} has "
        f"{target.python[0]}.{target.python[1]}, so some pins may not build or run there"
    )


# WORKDIR/data/current when `venvpkg update` made it (update.use sets it): its files win
# over the bundled ones.
_DATA_ROOT: Path | None = None
_GENERATION = 0


def use_data(root: Path | None) -> None:
    """Decide from the data under `root` (None: the bundled data) from now on.

    Read anew even when `root` is the one in use: `venvpkg watch` updates it in place.
    """
    global _DATA_ROOT, _GENERATION
    _DATA_ROOT = root
    _GENERATION += 1
    catalog.cache_clear()
    _requirements_sources.cache_clear()


def data_root() -> Path | None:
    return _DATA_ROOT


def data_generation() -> int:
    """Changes whenever the data is (re)loaded: the key of every cache read from it."""
    return _GENERATION


def data_dir(*parts: str) -> Path | None:
    """The updated copy of a data directory, when `venvpkg update` made one."""
    found = _DATA_ROOT.joinpath(*parts) if _DATA_ROOT else None
    return found if found and found.is_dir() else None


def data_text(*parts: str) -> str:
    """A data file, from the updated copy when there is one, else the bundled one."""
    if _DATA_ROOT and _DATA_ROOT.joinpath(*parts).is_file():
        return _DATA_ROOT.joinpath(*parts).read_text(encoding="utf-8")
    return _bundled(*parts)


def _bundled(*parts: str) -> str:
    return resources.files("venvpkg").joinpath("data", *parts).read_text(encoding="utf-8")


# Data older than this may miss a series' new status or deliverables: `series` says so.
STALE_DAYS = 30


@dataclass(frozen=True)
class Snapshot:
    """Which openstack/releases data venvpkg decides from, and of when."""

    origin: str
    commit: str
    date: str

    def age_days(self, today: datetime.date | None = None) -> int:
        return ((today or datetime.date.today()) - datetime.date.fromisoformat(self.date)).days


def releases_snapshot() -> Snapshot:
    """The openstack/releases data in use, its commit and date, from its SOURCE line."""
    repo, _ref, commit, date = data_text("openstack-releases", "SOURCE").split()[:4]
    updated = _DATA_ROOT and _DATA_ROOT.joinpath("openstack-releases", "SOURCE").is_file()
    return Snapshot(f"{'updated' if updated else 'bundled'} {repo}", commit, date)


@cache
def _requirements_sources() -> dict[str, tuple[str, str, str]]:
    """series id -> (ref, commit, commit date), from the bundled SOURCES file and, over
    it, the updated one (a series gone upstream keeps its bundled copy)."""
    sources = {}
    texts = [_bundled("openstack-requirements", "SOURCES")]
    if _DATA_ROOT and _DATA_ROOT.joinpath("openstack-requirements", "SOURCES").is_file():
        texts.append(_DATA_ROOT.joinpath("openstack-requirements", "SOURCES").read_text())
    for text in texts:
        for line in text.splitlines():
            if line.strip() and not line.startswith("#"):
                series, ref, commit, date = line.split()[:4]
                sources[series] = (ref, commit, date)
    return sources


@cache
def catalog() -> tuple[Series, ...]:
    """Every supported series, oldest first."""
    sources = _requirements_sources()
    entries = yaml.safe_load(data_text("openstack-releases", "series_status.yaml"))
    found = []
    for entry in entries:
        number = str(entry["release-id"]) if "release-id" in entry else None
        key = number or entry["name"]
        if key not in sources:
            continue
        ref, commit, date = sources[key]
        initial = str(entry.get("initial-release", ""))
        found.append(Series(entry["name"], number, entry["status"], ref, commit, date, initial))
    found.reverse()
    return tuple(found)


def lookup(name: str) -> Series:
    """Find a series by number or codename, case-insensitively."""
    wanted = name.strip().lower()
    for series in catalog():
        if wanted in (series.codename, series.number):
            return series
    names = [s.codename for s in catalog()] + [s.number for s in catalog() if s.number]
    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f"did you mean {close[0]}?" if close else "run 'venvpkg series' to list them"
    raise UsageError(f"unknown series {name!r}", hint)


def newest_maintained() -> Series:
    return [s for s in catalog() if s.status == "maintained"][-1]


def with_target(name: str | None, dist: str | None) -> tuple[Series, Target]:
    """The named series (else the newest maintained) and the named target (else its own)."""
    # None means "not given"; an empty string given on purpose is a mistake to name.
    chosen = lookup(name) if name is not None else newest_maintained()
    return chosen, targets.lookup(dist) if dist is not None else chosen.default_target
