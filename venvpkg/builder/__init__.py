"""Stage 3: build debianized projects into .debs, in a clean sbuild chroot or on the host.

A build is skipped when its inputs are unchanged: the .dsc (which names the orig and
debian tarballs by hash, so it covers the source, debian/ and the lock), the requirements
.deb, the chroot tarball, the backend and venvpkg's own version. Builds happen in scratch
directories; only whole, lintian-checked results reach WORKDIR/debs/DIST-SERIES/, each
with its records.BuildRecord.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from venvpkg import __version__, lintian, records
from venvpkg.builder import reproducible
from venvpkg.builder.backends import OUTPUTS, Backend, make_backend
from venvpkg.config import BACKENDS, Settings
from venvpkg.debianize import Request, Result, release_record
from venvpkg.errors import VenvpkgError
from venvpkg.files import atomic_write_text, exclusive, place, sha256_file
from venvpkg.progress import Display
from venvpkg.records import BuildRecord, BuildStatus, ReleaseRecord
from venvpkg.scratch import private_dir
from venvpkg.workdir import ReleasePaths, Workdir

__all__ = ["BACKENDS", "BuildResult", "BuildStatus", "Job", "Options", "build_all", "options"]


@dataclass(frozen=True)
class Job:
    """One project to build, as debianize left it."""

    request: Request
    debianized: Result

    @property
    def name(self) -> str:
        return self.debianized.source_dir.name


@dataclass
class BuildResult:
    project: str
    version: str
    status: BuildStatus
    debs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    lintian: str = ""
    reproducible: str = ""
    error: str = ""


@dataclass(frozen=True)
class Options:
    backend: str = "sbuild"
    verify_reproducible: bool = False
    rebuild: bool = False
    # lintian tags the site accepts, each with the reason it gives.
    lintian_allow: Mapping[str, str] = field(default_factory=dict)


def options(
    settings: Settings, backend: str | None, verify_reproducible: bool, rebuild: bool = False
) -> Options:
    """[build] and [lintian] of venvpkg.toml, under what the command line says."""
    chosen = backend or settings.build.backend
    return Options(chosen, verify_reproducible, rebuild, settings.build.lintian_allow)


@dataclass(frozen=True)
class Release:
    """What every build for one series and Debian release shares."""

    record: ReleaseRecord
    paths: ReleasePaths
    backend: Backend
    requirements_sha256: str


def build_all(
    jobs: list[Job], settings: Settings, display: Display, opts: Options
) -> list[BuildResult]:
    """Build every job, `settings.jobs` at a time, sharing one backend per Debian release."""
    releases = {_release_key(j): _prepare(j, settings, display, opts) for j in jobs}
    results: dict[str, BuildResult] = {}
    with display.stage("building", len(jobs)) as stage:

        def one(job: Job) -> None:
            release = releases[_release_key(job)]
            try:
                results[job.name] = _build_one(job, release, settings, display, opts)
            except VenvpkgError as error:
                # The other builds go on; the summary shows this one failed and why.
                display.warn(error.line())
                for line in getattr(error, "details", []):
                    display.warn(f"  {line}")
                failed = BuildStatus.FAILED
                version = job.debianized.version
                results[job.name] = BuildResult(
                    job.request.project, version, failed, error=error.line()
                )
            stage.advance(f"{job.name} {results[job.name].status}")

        # Longest first: a long build started last would run alone at the end while the
        # other workers idle (8 services, -j 2: 0.62x of their serial time in given order).
        expected = {j.name: _expected_seconds(j, releases[_release_key(j)]) for j in jobs}
        ordered = sorted(jobs, key=lambda j: expected[j.name], reverse=True)
        pool = ThreadPoolExecutor(max_workers=max(1, min(settings.jobs, len(jobs))))
        try:
            for future in [pool.submit(one, job) for job in ordered]:
                future.result()
        finally:
            # Interrupted, the builds still queued must not start (they did, one by one,
            # each failing as its sbuild was stopped).
            pool.shutdown(wait=True, cancel_futures=True)
    return [results[job.name] for job in jobs]


def _expected_seconds(job: Job, release: Release) -> float:
    """How long the project's last build of this series and dist took; unknown is long."""
    project = job.request.project
    recorded = release.paths.builds.glob(f"venv-{project}_*.json")
    for path in sorted(recorded, key=lambda p: p.stat().st_mtime, reverse=True):
        record = records.read(path, BuildRecord.from_dict)
        if record and record.seconds:
            return record.seconds
    return float("inf")


def _release_key(job: Job) -> tuple[str, str]:
    return job.request.series.id, job.request.target.name


def _prepare(job: Job, settings: Settings, display: Display, opts: Options) -> Release:
    request = job.request
    record = release_record(settings, request.series, request.target)
    backend = make_backend(opts.backend, record, settings, display)
    paths = settings.paths.release(request.target.name, request.series.id)
    return Release(record, paths, backend, _cached_sha256(record.deb, settings.paths))


def _cached_sha256(path: Path, workdir: Workdir) -> str:
    """sha256 of a large file, remembered by size and mtime so a no-op run does not rehash."""
    stat = path.stat()
    key = hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    memo = workdir.cache("sha256") / key
    if memo.exists():
        return memo.read_text().strip()
    digest = sha256_file(path)
    atomic_write_text(memo, digest + "\n")
    return digest


def fingerprint(job: Job, release: Release, opts: Options) -> str:
    inputs = {
        "dsc": sha256_file(job.debianized.dsc),
        "requirements": release.requirements_sha256,
        "chroot": release.backend.identity,
        "backend": opts.backend,
        "lintian_allow": sorted(opts.lintian_allow),
        "venvpkg": __version__,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _record_path(release: Release, job: Job) -> Path:
    return release.paths.builds / f"{job.debianized.dsc.stem}.json"


def _cached(job: Job, release: Release, wanted: str) -> BuildResult | None:
    record = records.read(_record_path(release, job), BuildRecord.from_dict)
    if record is None or record.fingerprint != wanted:
        return None
    debs = [release.paths.debs / name for name in record.debs]
    if not all(d.exists() and d.stat().st_size == record.sizes.get(d.name) for d in debs):
        return None
    status = BuildStatus.CACHED
    version = job.debianized.version
    return BuildResult(
        job.request.project, version, status, debs, 0.0, record.lintian, record.reproducible
    )


def _build_one(
    job: Job, release: Release, settings: Settings, display: Display, opts: Options
) -> BuildResult:
    wanted = fingerprint(job, release, opts)
    # One project builds for several dists and series at once; each has its own log and lock.
    where = f"{release.paths.key}-{job.name}"
    logs = settings.paths.log(f"build-{where}")
    with exclusive(settings.paths.lock(f"build-{where}"), display.info):
        cached = None if opts.rebuild else _cached(job, release, wanted)
        if cached is not None and (cached.reproducible or not opts.verify_reproducible):
            return cached
        began = time.monotonic()
        # In the workdir, beside debs/: results move into place with a rename. A killed
        # run's directory is swept by the next one.
        with private_dir(str(settings.paths.tmp), 0, "build") as scratch:
            debs = _run_backend(job, release.backend, scratch / "1", logs, display)
            changes = next((scratch / "1").glob("*.changes"))
            allow, unpack = opts.lintian_allow, settings.build.scratch
            verdict = lintian.check(changes, logs / "lintian.log", allow, unpack)
            same = ""
            if opts.verify_reproducible:
                again = _run_backend(job, release.backend, scratch / "2", logs, display)
                same = reproducible.compare(debs, again, logs)
            outcome = BuildRecord(
                job.name,
                job.request.project,
                job.debianized.version,
                wanted,
                (),
                {},
                (),
                verdict,
                same,
            )
            record_path = _record_path(release, job)
            placed = _publish(scratch / "1", release, outcome, record_path, began)
            status = BuildStatus.BUILT
            seconds = time.monotonic() - began
            version = job.debianized.version
            return BuildResult(job.request.project, version, status, placed, seconds, verdict, same)


def _run_backend(
    job: Job, backend: Backend, output: Path, logs: Path, display: Display
) -> list[Path]:
    output.mkdir(parents=True)
    display.info(f"building {job.name} {job.debianized.version} ({backend.name})")
    backend.build(job.debianized.dsc, job.name, output, logs)
    return sorted(output.glob("*.deb"))


def _publish(
    scratch: Path, release: Release, outcome: BuildRecord, record_path: Path, began: float
) -> list[Path]:
    """Place the outputs, drop what the previous build of this source left, record the state."""
    out = release.paths.debs
    produced = sorted(p for p in scratch.iterdir() if p.suffix in OUTPUTS)
    for path in produced:
        place(path, out / path.name)
    names = {p.name for p in produced}
    for previous in release.paths.builds.glob("*.json"):
        if previous != record_path:
            _drop_superseded(previous, outcome.source, names)
    debs = [out / p.name for p in produced if p.suffix == ".deb"]
    record = BuildRecord(
        outcome.source,
        outcome.project,
        outcome.version,
        outcome.fingerprint,
        tuple(d.name for d in debs),
        {d.name: d.stat().st_size for d in debs},
        tuple(sorted(names)),
        outcome.lintian,
        outcome.reproducible,
        round(time.monotonic() - began, 1),
    )
    records.write(record_path, record)
    return debs


def _drop_superseded(record_path: Path, source: str, keep: set[str]) -> None:
    """Outputs an older revision of the same source left behind."""
    record = records.read(record_path, BuildRecord.from_dict)
    if record is None or record.source != source:
        return
    for name in record.outputs:
        if name not in keep:
            (record_path.parent.parent / name).unlink(missing_ok=True)
    record_path.unlink()


def summary(results: list[BuildResult]) -> dict[str, Any]:
    return {
        "builds": [
            dict(asdict(r), debs=[str(d) for d in r.debs], seconds=round(r.seconds, 1))
            for r in results
        ]
    }
