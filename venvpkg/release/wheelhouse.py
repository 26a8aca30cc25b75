"""Bring a release's wheelhouse and requirements package up to date with its plan."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from venvpkg import metadata, sysdeps
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed
from venvpkg.files import atomic_write_text, exclusive, remembered, replace_dir
from venvpkg.index import Index
from venvpkg.progress import Display
from venvpkg.records import ReleaseRecord
from venvpkg.release import buildroot, fetch, lock, pack, sdists
from venvpkg.release.entries import Context, Entry, Failure
from venvpkg.release.lock import entries_from_lock, lock_text
from venvpkg.release.plan import ReleasePlan

MAX_ROUNDS = 4


@dataclass
class ReleaseResult:
    plan: ReleasePlan
    wheelhouse: Path
    up_to_date: bool = False
    entries: list[Entry] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    package: ReleaseRecord | None = None
    seconds: float = 0.0
    pack_seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(e.wheel.stat().st_size for e in self.entries if e.wheel and e.wheel.exists())


def run_release(plan: ReleasePlan, settings: Settings, display: Display) -> ReleaseResult:
    """Bring the wheelhouse and requirements package of `plan` up to date."""
    began = time.monotonic()
    paths = settings.paths.release(plan.target.name, plan.series.id)
    index = Index(plan.index_url, settings.paths.cache("index"))
    result = ReleaseResult(plan, paths.wheelhouse)
    with exclusive(paths.lock, display.info):
        current = pack.current(paths, plan)
        if current is not None and _wheelhouse_matches(plan, paths.wheelhouse):
            # Nothing to do, once every wheel is still the one its lock names.
            lock.verify(paths.wheelhouse, settings.jobs)
            result.up_to_date = True
            result.entries = entries_from_lock(paths.wheelhouse)
            result.failures = _recorded_failures(paths.wheelhouse)
            result.package = current
        else:
            place = buildroot.for_target(plan.target, settings, display)
            ctx = Context(plan, settings.paths, paths, index, settings.jobs, display, place)
            _refresh(ctx, result)
    result.seconds = time.monotonic() - began
    return result


def _recorded_failures(wheelhouse: Path) -> list[Failure]:
    """The missing pins a wheelhouse was packed without (missing.txt), for a no-op's report."""
    listing = wheelhouse / "missing.txt"
    found = []
    for line in listing.read_text().splitlines() if listing.is_file() else []:
        pin, _, rest = line.partition(": ")
        name, _, version = pin.partition("==")
        cause, _, users = rest.rpartition(" (needed by ")
        needed = users.rstrip(")").split(", ") if users != "nothing in the wheelhouse)" else []
        found.append(Failure(name, version, cause, str(listing), tuple(needed)))
    return found


def _wheelhouse_matches(plan: ReleasePlan, wheelhouse: Path) -> bool:
    meta = wheelhouse / "wheelhouse.json"
    return meta.is_file() and json.loads(meta.read_text()).get("fingerprint") == plan.fingerprint()


def _refresh(ctx: Context, result: ReleaseResult) -> None:
    plan, paths = ctx.plan, ctx.paths
    entries = {name: Entry(name, version) for name, version in plan.wanted.items()}
    shutil.rmtree(paths.staging, ignore_errors=True)
    paths.staging.mkdir(parents=True)
    for _round in range(MAX_ROUNDS):
        _fill(entries, ctx, result)
        failed = _failed_names(result)
        missing = {n: r for n, r in _unsatisfied(entries, ctx).items() if n not in failed}
        if not missing:
            break
        _complete(entries, missing, ctx, result)
    failed = _failed_names(result)
    result.entries = [e for e in entries.values() if e.name not in failed and e.wheel]
    result.failures = _with_users(result.failures, result.entries, plan)
    # A full release packs what the index has; a closure needs every one of its pins.
    fatal = [f for f in result.failures if not (f.unavailable and not plan.projects)]
    if fatal and not plan.allow_missing:
        shutil.rmtree(paths.staging, ignore_errors=True)
        raise BuildFailed(
            f"{len(fatal)} of {len(entries)} pins cannot be built for {plan.target.name}",
            "fix them, or pack the rest with --allow-missing",
            [f"{f.line()}; see {f.log}" for f in result.failures],
        )
    _commit(ctx, result)
    began = time.monotonic()
    result.package = pack.pack(plan, paths, ctx.workdir, ctx.display, ctx.place, ctx.jobs)
    result.pack_seconds = time.monotonic() - began


def _complete(
    entries: dict[NormalizedName, Entry],
    missing: dict[str, str],
    ctx: Context,
    result: ReleaseResult,
) -> None:
    """Names the pins need but the branch does not pin (denylisted ones such as certifi, or
    new dependencies), resolved once under the existing pins. Not strictly: where the
    branch's own pins contradict each other (train) or a name cannot be resolved at all
    (2023.1's ansible), the wheelhouse still holds what can be had, and says what not."""
    ctx.display.info(f"completing the closure: {', '.join(sorted(missing))}")
    pins = {n: e.version for n, e in entries.items()}
    resolver = sdists.resolver(ctx, "missing")
    # Not strict, the resolver tries each requirement alone when all together fail.
    completed = resolver.closure(sorted(missing.values()), pins, strict=False)
    for name, requirement in sorted(missing.items()):
        if canonicalize_name(name) not in completed:
            why = resolver.unresolved.get(canonicalize_name(name), f"cannot resolve {requirement}")
            result.failures.append(Failure(name, "-", why, str(resolver.log)))
    for name, version in completed.items():
        entries.setdefault(name, Entry(name, version))


def _fill(entries: dict[NormalizedName, Entry], ctx: Context, result: ReleaseResult) -> None:
    """Fetch what is new, add build dependencies, and build every sdist not yet built."""
    failed = _failed_names(result)
    result.failures += fetch.fetch(
        [e for e in entries.values() if e.artifact is None and e.name not in failed], ctx
    )
    needed = sdists.build_dependencies(entries, ctx, fetch.project_sdists(ctx))
    for name, version in needed.items():
        # A pin the wheelhouse holds anyway (cffi) that another sdist builds with (xattr)
        # must be built in the first group, or that build misses it.
        entries.setdefault(name, Entry(name, version)).build_dependency = True
    result.failures += fetch.fetch([e for e in entries.values() if e.artifact is None], ctx)
    failed = _failed_names(result)  # fetching may have added some
    to_build = [
        e
        for e in entries.values()
        if e.artifact and not e.artifact.is_wheel and e.wheel is None and e.name not in failed
    ]
    if to_build or not any(ctx.paths.debs.glob("*.deb")):
        names = sysdeps.package_names(list(ctx.plan.build_depends))
        sysdeps.ensure_installed(names, ctx.paths.logs / "apt.log", True, ctx.place)
    sdists.stage(list(entries.values()), ctx)
    result.failures += sdists.build(list(entries.values()), to_build, ctx)


def _with_users(failures: list[Failure], entries: list[Entry], plan: ReleasePlan) -> list[Failure]:
    """Each failure once, naming the wheels that require it (trollius: nothing, any more)."""
    if not failures:
        return []  # nothing to name: spare reading every wheel's metadata again
    environment = plan.target.marker_environment() | {"extra": ""}
    users: dict[NormalizedName, set[str]] = {}
    for entry in entries:
        assert entry.wheel is not None
        for requirement in metadata.wheel_requires(entry.wheel):
            if metadata.holds(requirement, environment):
                users.setdefault(canonicalize_name(requirement.name), set()).add(entry.name)
    unique = {canonicalize_name(f.name): f for f in failures}
    return [
        dataclasses.replace(f, needed_by=tuple(sorted(users.get(name, ()))))
        for name, f in sorted(unique.items())
    ]


def _failed_names(result: ReleaseResult) -> set[NormalizedName]:
    return {canonicalize_name(f.name) for f in result.failures}


def _unsatisfied(entries: dict[NormalizedName, Entry], ctx: Context) -> dict[str, str]:
    """Requirements of the wheels that no entry provides: name -> requirement."""
    plan = ctx.plan
    environment = plan.target.marker_environment() | {"extra": ""}
    missing: dict[str, str] = {}
    for entry in entries.values():
        if entry.wheel is None:
            continue
        for requirement in _wheel_requires(entry, ctx.workdir.cache("wheel-requires")):
            name = canonicalize_name(requirement.name)
            known = name in entries or name in plan.omitted
            if known or not metadata.holds(requirement, environment):
                continue
            missing[name] = f"{requirement.name}{requirement.specifier}"
    return missing


def _wheel_requires(entry: Entry, cache: Path) -> list[Requirement]:
    """Requires-Dist of an entry's wheel, kept by the wheel's digest: opening every wheel
    of the full series, once per round, was 2.6 s of each re-run with one pin moved."""
    wheel = entry.wheel
    assert wheel is not None
    slot = cache / f"{entry.wheel_sha256}.json" if entry.wheel_sha256 else None
    lines = remembered(slot, lambda: metadata.from_core_metadata(metadata.wheel_metadata(wheel)))
    return metadata.requirements(lines)


def _commit(ctx: Context, result: ReleaseResult) -> None:
    """Write constraints, lock and metadata, then swap the new wheelhouse into place."""
    plan, staging = ctx.plan, ctx.paths.staging
    keep = {e.wheel.name for e in result.entries if e.wheel}
    for stray in staging.glob("*.whl"):
        if stray.name not in keep:
            stray.unlink()
    for entry in result.entries:
        assert entry.wheel is not None and entry.wheel_sha256, entry.name
        entry.sha256 = entry.wheel_sha256
    files = {
        "upper-constraints.txt": "".join(
            f"{pin.project}==={pin.version}\n" for _, pin in sorted(plan.constraints.items())
        ),
        "build-constraints.txt": _build_constraints(plan, result),
        "build-depends.txt": "".join(f"{d}\n" for d in plan.build_depends),
        "overrides.txt": plan.overrides,
        "missing.txt": "".join(f"{f.line()}\n" for f in result.failures),
        "requirements.lock": lock_text(result.entries),
        "wheelhouse.json": json.dumps(_metadata(plan, result), indent=1),
    }
    for name, text in files.items():
        atomic_write_text(staging / name, text)
    lock.verify(staging, ctx.jobs)
    replace_dir(staging, ctx.paths.wheelhouse)
    for entry in result.entries:
        assert entry.wheel is not None
        entry.wheel = ctx.paths.wheelhouse / entry.wheel.name


def _build_constraints(plan: ReleasePlan, result: ReleaseResult) -> str:
    """The branch's build constraints, then what it leaves open, as chosen by date."""
    undated = plan.rules.undated
    chosen = sorted(
        f"{e.name}=={e.version}\n"
        for e in result.entries
        if e.name not in plan.constraints and e.name not in undated
    )
    if not chosen:
        return plan.build_constraints
    note = f"# Not pinned by the branch: the newest uploaded before {plan.rules.dated_before}.\n"
    return plan.build_constraints + note + "".join(chosen)


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
        "services": [p.requirement() for p in plan.services],
        # What services need beyond upper-constraints, pinned here: name==version -> users.
        "unconstrained": plan.unconstrained_pins,
        "build_dependencies": sorted(
            f"{e.name}=={e.version}" for e in result.entries if e.build_dependency
        ),
        "missing": [f"{f.name}=={f.version}" for f in result.failures],
        "fingerprint": plan.fingerprint(),
    }
