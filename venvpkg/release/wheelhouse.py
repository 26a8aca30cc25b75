"""Stage 1: fetch, build and lock the per-release wheelhouse, then pack it as a .deb."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import metadata, sysdeps
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed, NetworkError, VenvpkgError
from venvpkg.files import Store, atomic_write_text, exclusive, place, sha256_file
from venvpkg.index import Artifact, Index, choose
from venvpkg.progress import Display
from venvpkg.release import pack, resolve
from venvpkg.release import wheels as wheelbuild
from venvpkg.release.plan import ReleasePlan

FETCH_THREADS = 16
MAX_ROUNDS = 4
# Backends that import setuptools and, before setuptools 70.1, need wheel for bdist_wheel.
SETUPTOOLS_BACKENDS = ("setuptools", "pbr")
T = TypeVar("T")


@dataclass
class Entry:
    """One distribution in the wheelhouse, and how this run got it."""

    name: NormalizedName
    version: Version
    artifact: Artifact | None = None
    sha256: str = ""
    wheel: Path | None = None
    downloaded: bool = False
    built: bool = False
    build_dependency: bool = False


@dataclass(frozen=True)
class Failure:
    name: str
    version: str
    cause: str
    log: str


@dataclass
class ReleaseResult:
    plan: ReleasePlan
    wheelhouse: Path
    up_to_date: bool = False
    entries: list[Entry] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    package: pack.PackResult | None = None
    seconds: float = 0.0
    pack_seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(e.wheel.stat().st_size for e in self.entries if e.wheel and e.wheel.exists())


class Paths:
    """Where one release keeps its files inside the workdir."""

    def __init__(self, workdir: Path, plan: ReleasePlan) -> None:
        self.workdir = workdir
        self.wheelhouse = workdir / "wheelhouse" / plan.id
        self.staging = workdir / "wheelhouse" / f".{plan.id}.new"
        self.lock = workdir / "locks" / f"release-{plan.id}.lock"
        self.logs = workdir / "logs" / f"release-{plan.id}"
        self.store = Store(workdir / "cache" / "files")
        self.built = workdir / "cache" / "built" / f"{plan.target.name}-{wheelbuild.BUILD_RECIPE}"
        self.debs = workdir / "debs" / f"{plan.target.name}-{plan.series.id}"


def run_release(plan: ReleasePlan, settings: Settings, display: Display) -> ReleaseResult:
    """Bring the wheelhouse and requirements package of `plan` up to date."""
    began = time.monotonic()
    paths = Paths(settings.workdir, plan)
    result = ReleaseResult(plan, paths.wheelhouse)
    with exclusive(paths.lock, display.info):
        if _up_to_date(plan, paths):
            result.up_to_date = True
            result.entries = _entries_from_lock(paths.wheelhouse)
            result.package = pack.current(paths.debs, plan)
        else:
            _refresh(plan, settings, paths, result, display)
    result.seconds = time.monotonic() - began
    return result


def _up_to_date(plan: ReleasePlan, paths: Paths) -> bool:
    meta = paths.wheelhouse / "wheelhouse.json"
    if not meta.is_file():
        return False
    recorded = json.loads(meta.read_text())
    return (
        recorded.get("fingerprint") == plan.fingerprint()
        and pack.current(paths.debs, plan) is not None
    )


def _refresh(
    plan: ReleasePlan, settings: Settings, paths: Paths, result: ReleaseResult, display: Display
) -> None:
    index = Index(plan.index_url, settings.workdir / "cache" / "index")
    entries = {name: Entry(name, version) for name, version in plan.wanted.items()}
    shutil.rmtree(paths.staging, ignore_errors=True)
    paths.staging.mkdir(parents=True)
    for _round in range(MAX_ROUNDS):
        _fill(entries, plan, index, paths, settings, result, display)
        missing = _unsatisfied(entries, plan)
        if not missing:
            break
        # Names the pins need but the branch does not pin (denylisted ones such as
        # certifi, or new dependencies): resolve them once, under the existing pins.
        display.info(f"completing the closure: {', '.join(sorted(missing))}")
        pins = {n: e.version for n, e in entries.items()}
        completed = _closure(sorted(missing.values()), pins, plan, index, paths, "missing")
        for name, version in completed.items():
            entries.setdefault(name, Entry(name, version))
    failed = _failed_names(result)
    result.entries = [e for e in entries.values() if e.name not in failed and e.wheel]
    if result.failures and not plan.allow_missing:
        shutil.rmtree(paths.staging, ignore_errors=True)
        raise BuildFailed(
            f"{len(result.failures)} of {len(entries)} pins cannot be built for {plan.target.name}",
            "fix them, or pack the rest with --allow-missing",
            [f"{f.name}=={f.version}: {f.cause} ({f.log})" for f in result.failures],
        )
    _commit(plan, paths, result)
    began = time.monotonic()
    result.package = pack.pack(
        plan,
        paths.wheelhouse,
        paths.debs,
        settings.workdir,
        display,
        scratch=settings.scratch,
    )
    result.pack_seconds = time.monotonic() - began


def _fill(
    entries: dict[NormalizedName, Entry],
    plan: ReleasePlan,
    index: Index,
    paths: Paths,
    settings: Settings,
    result: ReleaseResult,
    display: Display,
) -> None:
    """Fetch what is new, add build dependencies, and build every sdist not yet built."""
    failed = _failed_names(result)
    fresh = [e for e in entries.values() if e.artifact is None and e.name not in failed]
    result.failures += _fetch(fresh, plan, index, paths, settings.jobs, display)
    for name, version in _build_dependencies(plan, entries, index, paths, display).items():
        entries.setdefault(name, Entry(name, version, build_dependency=True))
    result.failures += _fetch(
        [e for e in entries.values() if e.artifact is None],
        plan,
        index,
        paths,
        settings.jobs,
        display,
    )
    failed = _failed_names(result)  # fetching may have added some
    to_build = [
        e
        for e in entries.values()
        if e.artifact and not e.artifact.is_wheel and e.wheel is None and e.name not in failed
    ]
    if to_build or not _debs_exist(paths):
        sysdeps.ensure_installed(
            sysdeps.package_names(list(plan.build_depends)), paths.logs / "apt.log", install=True
        )
    _stage(entries.values(), paths)
    result.failures += _build(list(entries.values()), to_build, plan, paths, settings, display)


def _failed_names(result: ReleaseResult) -> set[NormalizedName]:
    return {canonicalize_name(f.name) for f in result.failures}


def _unsatisfied(entries: dict[NormalizedName, Entry], plan: ReleasePlan) -> dict[str, str]:
    """Requirements of the wheels that no entry provides: name -> requirement."""
    environment = plan.target.marker_environment() | {"extra": ""}
    missing: dict[str, str] = {}
    for entry in entries.values():
        if entry.wheel is None:
            continue
        for requirement in metadata.wheel_requires(entry.wheel):
            name = canonicalize_name(requirement.name)
            if name in entries or (
                requirement.marker and not requirement.marker.evaluate(environment)
            ):
                continue
            missing[name] = f"{requirement.name}{requirement.specifier}"
    return missing


def _debs_exist(paths: Paths) -> bool:
    return paths.debs.is_dir() and any(paths.debs.glob("*.deb"))


def _parallel(
    items: Iterable[T], jobs: int, work: Callable[[T], str], display: Display, title: str
) -> list[tuple[T, VenvpkgError]]:
    """Run `work` over `items` on `jobs` threads; collect the errors instead of stopping."""
    pending = list(items)
    errors: list[tuple[T, VenvpkgError]] = []
    with display.stage(title, len(pending)), ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(work, item): item for item in pending}
        for future in as_completed(futures):
            item = futures[future]
            try:
                display.advance(future.result())
            except VenvpkgError as error:
                errors.append((item, error))
                display.advance(f"{item}: {error.message}")
    return errors


def _fetch(
    entries: Iterable[Entry],
    plan: ReleasePlan,
    index: Index,
    paths: Paths,
    jobs: int,
    display: Display,
) -> list[Failure]:
    """Find and download each entry's best file for the target."""
    todo = [e for e in entries if e.artifact is None]

    def fetch_one(entry: Entry) -> str:
        artifact = choose(index.files(entry.name, entry.version), plan.target)
        if artifact is None:
            raise VenvpkgError(f"no wheel for {plan.target.python_tag} and no sdist on the index")
        entry.artifact = artifact
        entry.downloaded = not (artifact.sha256 and paths.store.has(artifact.sha256))
        entry.sha256 = index.download(artifact, paths.store)
        return artifact.filename

    errors = _parallel(todo, max(jobs, FETCH_THREADS), fetch_one, display, "fetch")
    unreachable = sorted(
        str(entry.name) for entry, error in errors if isinstance(error, NetworkError)
    )
    if unreachable:
        shown = ", ".join(unreachable[:8]) + (
            f" and {len(unreachable) - 8} more" if len(unreachable) > 8 else ""
        )
        raise NetworkError(
            f"cannot reach {plan.index_url} for {len(unreachable)} pins: {shown}",
            "check the network or --index-url; what was fetched is kept, re-run to continue",
        )
    return [_failure(entry, error, paths.logs / "fetch.log") for entry, error in errors]


def _failure(entry: Entry, error: VenvpkgError, log: Path) -> Failure:
    where = getattr(error, "log", log)
    return Failure(str(entry.name), str(entry.version), error.message, str(where))


def _build_dependencies(
    plan: ReleasePlan,
    entries: dict[NormalizedName, Entry],
    index: Index,
    paths: Paths,
    display: Display,
) -> dict[NormalizedName, Version]:
    """Everything the sdists (and the projects themselves) need to build offline."""
    sdists = [
        paths.store.path(e.sha256)
        for e in entries.values()
        if e.artifact and not e.artifact.is_wheel
    ]
    sdists += _project_sdists(plan, index, paths)
    requires = sorted({r for sdist in sdists for r in _requires(sdist, paths)})
    if not requires:
        return {}
    display.info(f"resolving {len(requires)} build requirements")
    pins = {n: p.version for n, p in plan.constraints.items()} | dict(plan.wanted)
    # An sdist pinning its own build tools against the branch (krb5 0.9.0 wants
    # Cython==3.2.1 where 2026.1 pins 3.2.4) fails alone, with pip's cause.
    return _closure(requires, pins, plan, index, paths, "build", strict=False)


def _closure(
    requirements: list[str],
    pins: dict[NormalizedName, Version],
    plan: ReleasePlan,
    index: Index,
    paths: Paths,
    purpose: str,
    strict: bool = True,
) -> dict[NormalizedName, Version]:
    """resolve.closure under the plan's build constraints, logged per purpose."""
    return resolve.closure(
        requirements,
        pins,
        plan.build_constraints,
        index=index,
        store=paths.store,
        target=plan.target,
        workdir=paths.workdir,
        log=paths.logs / f"resolve-{purpose}.log",
        strict=strict,
    )


def _project_sdists(plan: ReleasePlan, index: Index, paths: Paths) -> list[Path]:
    found = []
    for project in plan.projects:
        sdists = [a for a in index.files(project.pypi_name, project.version) if not a.is_wheel]
        if sdists:
            found.append(paths.store.path(index.download(sdists[0], paths.store)))
    return found


def _requires(sdist: Path, paths: Paths) -> list[str]:
    """Build requirements of an sdist, cached by its digest."""
    cached = paths.workdir / "cache" / "build-requires" / f"{sdist.name}.json"
    if cached.is_file():
        return list(json.loads(cached.read_text()))
    requires = wheelbuild.build_requires(sdist)
    if any(r.split("[")[0].strip().lower().startswith(SETUPTOOLS_BACKENDS) for r in requires):
        requires = [*requires, "setuptools", "wheel"]
    atomic_write_text(cached, json.dumps(sorted(set(requires))))
    return sorted(set(requires))


def _stage(entries: Iterable[Entry], paths: Paths) -> None:
    """Link every fetched wheel into the staging directory, the find-links of builds."""
    for entry in entries:
        if entry.wheel is None and entry.artifact and entry.artifact.is_wheel and entry.sha256:
            entry.wheel = paths.staging / entry.artifact.filename
            place(paths.store.path(entry.sha256), entry.wheel)


def _build(
    everything: list[Entry],
    to_build: list[Entry],
    plan: ReleasePlan,
    paths: Paths,
    settings: Settings,
    display: Display,
) -> list[Failure]:
    """Compile sdists in parallel, build dependencies first; reuse earlier builds."""
    if not to_build:
        return []
    python = wheelbuild.build_environment(plan.target, settings.workdir)
    constraints = paths.staging.parent / f".{plan.id}.build-constraints.txt"
    atomic_write_text(
        constraints,
        "".join(f"{e.name}=={e.version}\n" for e in sorted(everything, key=lambda e: e.name))
        + plan.build_constraints,
    )
    epoch = _source_date_epoch(plan)
    failures = []
    for group in (
        [e for e in to_build if e.build_dependency],
        [e for e in to_build if not e.build_dependency],
    ):

        def build_one(entry: Entry) -> str:
            entry.wheel, entry.built = _build_cached(entry, python, constraints, paths, epoch)
            return entry.wheel.name

        errors = _parallel(group, settings.jobs, build_one, display, "build")
        failures += [_failure(e, err, paths.logs / f"build-{e.name}.log") for e, err in errors]
    return failures


def _build_cached(
    entry: Entry, python: Path, constraints: Path, paths: Paths, epoch: str
) -> tuple[Path, bool]:
    """The wheel built from this exact sdist for this target, building it if new."""
    slot = paths.built / entry.sha256[:2] / entry.sha256
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    if existing:
        wheel, built = existing[0], False
    else:
        slot.mkdir(parents=True, exist_ok=True)
        assert entry.artifact is not None
        wheel = wheelbuild.build_wheel(
            _named_sdist(entry, paths),
            entry.artifact.name,
            entry.version,
            python=python,
            find_links=paths.staging,
            constraints=constraints,
            output=slot,
            log=paths.logs / f"build-{entry.name}.log",
            source_date_epoch=epoch,
        )
        built = True
    staged = paths.staging / wheel.name
    place(wheel, staged)
    return staged, built


def _named_sdist(entry: Entry, paths: Paths) -> Path:
    """pip needs the real file name of an sdist; link the stored file under it."""
    assert entry.artifact is not None
    named = paths.workdir / "tmp" / "sdists" / entry.sha256[:16] / entry.artifact.filename
    place(paths.store.path(entry.sha256), named)
    return named


def _source_date_epoch(plan: ReleasePlan) -> str:
    date = datetime.strptime(plan.data.commit_date.replace("-", ""), "%Y%m%d").replace(tzinfo=UTC)
    return str(int(date.timestamp()))


def _commit(plan: ReleasePlan, paths: Paths, result: ReleaseResult) -> None:
    """Write constraints, lock and metadata, then swap the new wheelhouse into place."""
    staging = paths.staging
    keep = {e.wheel.name for e in result.entries if e.wheel}
    for stray in staging.glob("*.whl"):
        if stray.name not in keep:
            stray.unlink()
    for entry in result.entries:
        assert entry.wheel is not None
        entry.sha256 = sha256_file(entry.wheel)
    atomic_write_text(
        staging / "upper-constraints.txt",
        "".join(f"{pin.project}==={pin.version}\n" for _, pin in sorted(plan.constraints.items())),
    )
    atomic_write_text(staging / "build-constraints.txt", plan.build_constraints)
    atomic_write_text(staging / "build-depends.txt", "".join(f"{d}\n" for d in plan.build_depends))
    atomic_write_text(
        staging / "missing.txt",
        "".join(f"{f.name}=={f.version}  # {f.cause}\n" for f in result.failures),
    )
    atomic_write_text(staging / "requirements.lock", lock_text(result.entries))
    atomic_write_text(staging / "wheelhouse.json", json.dumps(_metadata(plan, result), indent=1))
    _swap(staging, paths.wheelhouse)
    for entry in result.entries:
        assert entry.wheel is not None
        entry.wheel = paths.wheelhouse / entry.wheel.name


def lock_text(entries: Iterable[Entry]) -> str:
    """A pip requirements file that pins every wheel by name, version and sha256."""
    lines = [
        "# Every wheel of this wheelhouse; install with:",
        "#   pip install --no-index --find-links . --require-hashes -r requirements.lock",
    ]
    for entry in sorted(entries, key=lambda e: e.name):
        lines.append(f"{entry.name}=={entry.version} \\\n    --hash=sha256:{entry.sha256}")
    return "\n".join(lines) + "\n"


def _metadata(plan: ReleasePlan, result: ReleaseResult) -> dict[str, object]:
    return {
        "series": plan.series.id,
        "codename": plan.series.codename,
        "target": plan.target.name,
        "python": ".".join(map(str, plan.target.python)),
        "requirements": {
            "origin": plan.data.origin,
            "ref": plan.data.ref,
            "date": plan.data.commit_date,
        },
        "projects": [p.requirement() for p in plan.projects],
        "unpinned": [f"{n}=={plan.wanted[n]}" for n in plan.unpinned],
        "build_dependencies": sorted(
            f"{e.name}=={e.version}" for e in result.entries if e.build_dependency
        ),
        "missing": [f"{f.name}=={f.version}" for f in result.failures],
        "fingerprint": plan.fingerprint(),
    }


def _swap(new: Path, final: Path) -> None:
    """Replace `final` by `new`; a crash in between leaves `new` for the re-run to redo."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _entries_from_lock(wheelhouse: Path) -> list[Entry]:
    """Entries of a finished wheelhouse, read back from its lock."""
    entries = []
    wheels = {canonicalize_name(w.name.split("-")[0]): w for w in wheelhouse.glob("*.whl")}
    for line in (wheelhouse / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.split()[0].partition("==")
            key = canonicalize_name(name)
            entries.append(Entry(key, Version(version), wheel=wheels.get(key)))
    return entries
