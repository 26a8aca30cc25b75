"""Ship through the signed repository: publish to staging, promote what passed, roll back.

Per Debian release and series there are two distributions: CODENAME-staging, where every
build lands, and CODENAME (bookworm-2025.2), which operators point apt at and which only
receives what passed `venvpkg test`. reprepro owns the pool and the indices; every write
holds the repository's lock, and a run killed half-way is finished by the next one
(reprepro's own database is consistent, unreferenced pool files are swept first).
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from venvpkg import debformats, lintian, records
from venvpkg.config import Settings
from venvpkg.errors import DataError, UsageError
from venvpkg.files import sha256_file
from venvpkg.progress import Display
from venvpkg.records import BuildRecord, ReleaseRecord
from venvpkg.ship.repository import (
    SNAPSHOT_PREFIX,
    Entry,
    Repository,
    ensure_distributions,
    listing,
    open_repository,
    reprepro,
    require_distribution,
    sweep,
)
from venvpkg.workdir import Workdir


@dataclass
class PublishResult:
    codename: str
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def built_outputs(workdir: Workdir, dist: str, series: str) -> tuple[list[Path], list[Path]]:
    """The .debs and .dscs venvpkg built for dist+series, from its build records."""
    paths = workdir.release(dist, series)
    debs: list[Path] = []
    dscs: list[Path] = []
    for path in sorted(paths.builds.glob("*.json")):
        record = records.read(path, BuildRecord.from_dict)
        if record is None:
            continue
        debs += [paths.debs / name for name in record.debs]
        dsc = paths.sources / f"{path.stem}.dsc"
        if dsc.exists():
            dscs.append(dsc)
    release = records.read(paths.record, ReleaseRecord.from_dict)
    if release is not None:
        debs.append(release.deb)
    return debs, dscs


def require_ours(debs: list[Path], ours: list[Path]) -> None:
    """Only packages this workdir built may enter the repository."""
    known = {sha256_file(p) for p in ours if p.exists()}
    for deb in debs:
        if not deb.exists():
            raise UsageError(f"{deb} does not exist", "check the path")
        if sha256_file(deb) not in known:
            raise UsageError(
                f"{deb.name} is not a package venvpkg built in this workdir",
                "publish only what venvpkg build made (its build records list them)",
            )


def publish(
    settings: Settings, display: Display, dist: str, series: str, only: list[Path] | None = None
) -> PublishResult:
    """Add the built packages to dist+series staging; the same version twice is a no-op."""
    debs, dscs = built_outputs(settings.paths, dist, series)
    if only:
        require_ours(only, debs)
        debs, dscs = only, []
    if not debs:
        raise UsageError(
            f"nothing built for {dist}-{series} in {settings.workdir}",
            f"run: venvpkg build PROJECT --series {series} --dist {dist}",
        )
    _check_requirements_package(settings, display, dist, series, debs)
    # Only now: a publish of nothing must not leave a key and a keyring-only repository.
    repo = open_repository(settings, display)
    with repo.lock(display):
        ensure_distributions(repo, dist, series)
        sweep(repo)
        result = PublishResult(repo.codename(dist, series, "staging"))
        present = listing(repo, result.codename)
        files = [(deb, debformats.deb_fields(deb)) for deb in debs]
        files += [(dsc, (*debformats.dsc_fields(dsc), "source")) for dsc in dscs]
        for path, key in files:
            _include(repo, present, path, key, result)
    return result


def _check_requirements_package(
    settings: Settings, display: Display, dist: str, series: str, debs: list[Path]
) -> None:
    """lintian on the requirements package before it first ships, its verdict recorded.

    `release` packs without it: a pin moved repacks the whole wheelhouse, and lintian
    over it (2 s for keystone's closure, 6 s for the series) would double such a run.
    A package lintian rejects never reaches the repository.
    """
    paths = settings.paths.release(dist, series)
    release = records.read(paths.record, ReleaseRecord.from_dict)
    if release is None or release.lintian != records.NOT_CHECKED:
        return
    if release.deb.resolve() not in {d.resolve() for d in debs}:
        return
    display.info(f"checking {release.deb.name} with lintian")
    log = paths.logs / "pack-lintian.log"
    verdict = lintian.check(release.deb, log, scratch=settings.build.scratch)
    records.write(paths.record, dataclasses.replace(release, lintian=verdict))


def _include(
    repo: Repository,
    present: dict[tuple[str, str, str], Entry],
    path: Path,
    key: tuple[str, str, str],
    result: PublishResult,
) -> None:
    """Add one .deb or .dsc to staging, unless that exact file is there already."""
    label = f"{key[0]} {key[1]} ({key[2]})"
    held = present.get(key)
    if held is not None:
        pooled = repo.root / held.path
        if key[2] == "source" or sha256_file(pooled) == sha256_file(path):
            result.unchanged.append(label)
            return
        raise DataError(
            f"{result.codename} already holds {label} with different content",
            "a rebuild needs a new revision: change the tree and run venvpkg build again",
        )
    command = "includedsc" if key[2] == "source" else "includedeb"
    reprepro(repo, ["-C", "main", command, result.codename, str(path)])
    result.added.append(label)


@dataclass
class PromoteResult:
    codename: str
    promoted: list[str] = field(default_factory=list)
    snapshot: str = ""


def promote(
    settings: Settings,
    display: Display,
    dist: str,
    series: str,
    passed: set[tuple[str, str]],
) -> PromoteResult:
    """Copy what passed its tests from staging to production, after snapshotting production."""
    repo = open_repository(settings, display, create=False)
    staging = repo.codename(dist, series, "staging")
    production = repo.codename(dist, series, "production")
    with repo.lock(display):
        require_distribution(repo, staging)
        sweep(repo)
        held = listing(repo, production)
        wanted = [
            e
            for e in listing(repo, staging).values()
            if (e.name, e.version) in passed and e.key not in held
        ]
        result = PromoteResult(production)
        if not wanted:
            return result
        result.snapshot = SNAPSHOT_PREFIX + datetime.datetime.now(datetime.UTC).strftime(
            "%Y%m%dT%H%M%S%fZ"
        )
        reprepro(repo, ["gensnapshot", production, result.snapshot])
        binaries = sorted({e.name for e in wanted if e.arch != "source"})
        sources = sorted({e.name for e in wanted if e.arch == "source"})
        if binaries:
            reprepro(repo, ["copy", production, staging, *binaries])
        for source in sources:
            reprepro(repo, ["copysrc", production, staging, source])
        result.promoted = sorted(f"{e.name} {e.version} ({e.arch})" for e in wanted)
    return result


def snapshots(repo: Repository, production: str) -> list[str]:
    directory = repo.root / "dists" / production / "snapshots"
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(SNAPSHOT_PREFIX))


def rollback(settings: Settings, display: Display, dist: str, series: str) -> str:
    """Put production back as it was before the last promote; return that snapshot's name."""
    repo = open_repository(settings, display, create=False)
    production = repo.codename(dist, series, "production")
    with repo.lock(display):
        require_distribution(repo, production)
        taken = snapshots(repo, production)
        if not taken:
            raise UsageError(
                f"{production} has no snapshot to roll back to", "promote creates them"
            )
        snapshot = taken[-1]
        before = _snapshot_names(repo, production, snapshot)
        current = {e.name for e in listing(repo, production).values()}
        added = sorted(current - before)
        if added:
            reprepro(repo, ["remove", production, *added])
        if before:
            reprepro(repo, ["restorematched", production, snapshot, "*"])
        reprepro(repo, ["unreferencesnapshot", production, snapshot])
        shutil.rmtree(repo.root / "dists" / production / "snapshots" / snapshot)
        reprepro(repo, ["deleteunreferenced"])
    return snapshot


def _snapshot_names(repo: Repository, production: str, snapshot: str) -> set[str]:
    """Package names in a snapshot's indices (reprepro writes Packages.gz and Sources.gz)."""
    root = repo.root / "dists" / production / "snapshots" / snapshot
    indices = [*root.rglob("Packages.gz"), *root.rglob("Sources.gz")]
    return set().union(*(debformats.index_names(i.read_bytes()) for i in indices))
