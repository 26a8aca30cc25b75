"""Stage 6: stay current, unattended. `venvpkg watch` compares what it last shipped for a
dist and series with upstream now: the newest release of each project on the index, the
series' openstack/requirements data (after `venvpkg update`), venvpkg's own code and
templates, and each project's site settings. It runs the pipeline for exactly what
changed and records what it shipped in WORKDIR/watch/DIST-SERIES.json.

A requirements change repacks the requirements package of every watched project's
closure, then rebuilds only the venvs whose lock it changes: each venv's lock names the
version and digest of every wheel it holds, and the new package's lock says which moved.
Each decision is one line, printed and kept in WORKDIR/watch/decisions.log for the
status report. A round that fails records nothing, so the next round tries again.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from venvpkg import debianize, pipeline, records, series, targets, update
from venvpkg.config import Settings
from venvpkg.debianize import inputs, versions
from venvpkg.errors import BuildFailed, DataError, NetworkError, UsageError, VenvpkgError
from venvpkg.files import exclusive
from venvpkg.progress import Display
from venvpkg.records import Shipped, WatchRecord
from venvpkg.release import ReleaseRequest, plan_release, requirements
from venvpkg.release.lock import read_lock
from venvpkg.release.wheelhouse import run_release
from venvpkg.ship import bundle, report, repository

# "1h", "30m", "90s", "2d", or a bare number of seconds.
INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Watched:
    """One dist and series, and the projects watched there."""

    series: series.Series
    target: targets.Target
    projects: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.target.name, self.series.id

    @property
    def codename(self) -> str:
        return f"{self.target.name}-{self.series.id}"


@dataclass(frozen=True)
class Upstream:
    """What a dist and series would be built from now."""

    requirements: str
    requirements_label: str
    code: str
    versions: Mapping[str, str]
    options: Mapping[str, str]


@dataclass(frozen=True)
class Decision:
    """One thing the round does, and why: rebuild a project's venv, repack the
    requirements package, or (neither) only say something."""

    project: str
    line: str
    repack: bool = False


@dataclass
class RoundResult:
    watched: Watched
    decisions: list[Decision] = field(default_factory=list)
    # The version each project would be built at: a farm's poller hands it to the build.
    versions: Mapping[str, str] = field(default_factory=dict)
    ran: pipeline.PipelineResult | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def rebuilt(self) -> list[str]:
        return sorted({d.project for d in self.decisions if d.project})


def parse_interval(text: str) -> float:
    found = INTERVAL.match(text.strip().lower())
    if not found or float(found.group(1)) <= 0:
        raise UsageError(f"--interval {text!r} is not a duration", "write e.g. 90s, 30m, 1h or 1d")
    return float(found.group(1)) * UNITS[found.group(2)]


def decide(watched: Watched, seen: WatchRecord | None, now: Upstream) -> list[Decision]:
    """What changed since each project shipped, one decision per project to rebuild (and
    one for the requirements package when the data moved under a project)."""
    if seen is None:
        return [
            Decision(p, f"{watched.codename}: first watch: shipping venv-{p} {now.versions[p]}")
            for p in watched.projects
        ]
    found = []
    if stale_requirements(watched, seen, now):
        found.append(
            Decision(
                "",
                f"openstack/requirements of {watched.series.label} changed "
                f"({now.requirements_label}): repacking the requirements package",
                repack=True,
            )
        )
    for name in watched.projects:
        decided = _project_change(name, watched, seen, now)
        if decided:
            found.append(decided)
    return found


def stale_requirements(watched: Watched, seen: WatchRecord, now: Upstream) -> set[str]:
    """The shipped projects whose venv was made from other requirements data than now's."""
    return {
        name
        for name in watched.projects
        if name in seen.projects
        and (seen.projects[name].requirements or seen.requirements) != now.requirements
    }


def _project_change(
    name: str, watched: Watched, seen: WatchRecord, now: Upstream
) -> Decision | None:
    version = now.versions[name]
    shipped = seen.projects.get(name)
    if shipped is None:
        return Decision(name, f"{name} is new to the watch: building venv-{name} {version}")
    if (shipped.code or seen.code) != now.code:
        return Decision(name, f"venvpkg or its templates changed: rebuilding venv-{name}")
    if shipped.version != version:
        if not _newer(version, shipped.version):
            # A release withdrawn from the index, or an index out of reach (the data's
            # older release stands in): never a downgrade an operator did not ask for.
            return Decision(
                "",
                f"{name}: the newest release found is {version}, older than the shipped "
                f"{shipped.version}: keeping venv-{name} {shipped.version} "
                "(a withdrawn release? pin it with [projects] or build it by hand)",
            )
        line = f"{name} {version} is out for {watched.series.id}: rebuilding venv-{name}"
        return Decision(name, line)
    if shipped.options != now.options[name]:
        return Decision(name, f"{name}'s site settings changed: rebuilding venv-{name}")
    return None


def _newer(version: str, than: str) -> bool:
    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return True


def lock_moves(
    seen: WatchRecord, pins: Mapping[str, tuple[Version, str]], among: set[str]
) -> list[Decision]:
    """Of the venvs `among`, those the new requirements package changes: a wheel of their
    lock moved (its version, or its digest where `pins` has one: a dry run knows only
    versions)."""
    found = []
    for name, shipped in sorted(seen.projects.items()):
        if name not in among:
            continue
        moved = []
        for pin, held in sorted(shipped.pins.items()):
            old_version, _, old_digest = held.partition(" ")
            new = pins.get(pin)
            if new is None:
                moved.append(f"{pin} {old_version} -> gone")
            elif str(new[0]) != old_version or new[1] not in ("", old_digest):
                moved.append(f"{pin} {old_version} -> {new[0]}")
        if moved:
            more = f" and {len(moved) - 3} more" if len(moved) > 3 else ""
            said = ", ".join(moved[:3]) + more
            found.append(Decision(name, f"{name}'s lock changed ({said}): rebuilding venv-{name}"))
    return found


@dataclass(frozen=True)
class Options:
    backend: str | None = None
    # venvpkg update first.
    refresh: bool = True
    # Decide and say, build nothing, record nothing.
    dry_run: bool = False


def watch(
    names: list[str],
    only: tuple[str, ...],
    target: str | None,
    options: Options,
    settings: Settings,
    display: Display,
) -> list[RoundResult]:
    """One round over every watched dist and series; a second watch of the workdir is
    refused (two would build and publish the same packages at once)."""
    with exclusive(settings.paths.lock("watch"), refuse=_refusal(settings)):
        if options.refresh:
            _update(settings, display)
        results = []
        for one in watched(names, only, target, settings, display):
            results.append(watch_round(one, options, settings, display))
        if _published(settings) and not options.dry_run:
            report.write(settings, display)
        return results


def _refusal(settings: Settings) -> Callable[[str], Exception]:
    def refusal(holder: str) -> Exception:
        return UsageError(
            f"another venvpkg watch ({holder}) is watching {settings.workdir}",
            "let it run, or stop it first; one watch per workdir",
        )

    return refusal


def _update(settings: Settings, display: Display) -> None:
    """Fresh data first; out of reach or malformed upstream, the data in use stays (and
    is said to): a daemon keeps shipping fixes while opendev is down or mid-change."""
    try:
        update.update(settings, display)
    except (NetworkError, DataError) as error:
        before = series.releases_snapshot()
        display.warn(f"{error.line()}; deciding from {before.origin} of {before.date}")
    update.use(settings)


def watched(
    names: list[str],
    only: tuple[str, ...],
    target: str | None,
    settings: Settings,
    display: Display,
) -> list[Watched]:
    """The named series (else every dist and series watched or published before), each
    with the named projects (else those watched or published there before)."""
    if names:
        pairs = [series.with_target(name, target) for name in names]
    else:
        known = _known_pairs(settings, display)
        pairs = [(series.lookup(s), targets.lookup(d)) for d, s in known]
        if target is not None:
            pairs = [p for p in pairs if p[1].name == target]
    found = []
    for chosen, dist in pairs:
        wanted = only or _known_projects(settings, display, dist.name, chosen.id)
        if not wanted:
            raise UsageError(
                f"nothing to watch in {dist.name}-{chosen.id}: no project was watched or "
                "published there",
                f"name them: venvpkg watch {chosen.id} --projects keystone nova",
            )
        found.append(Watched(chosen, dist, tuple(sorted(set(wanted)))))
    if not found:
        raise UsageError(
            f"nothing to watch in {settings.workdir}: nothing was watched or published yet",
            "name a series and projects: venvpkg watch 2025.2 --projects keystone",
        )
    return found


def _known_pairs(settings: Settings, display: Display) -> list[tuple[str, str]]:
    pairs = {tuple(p.stem.split("-", 1)) for p in settings.paths.watch_log.parent.glob("*.json")}
    for codename in _codenames(settings, display):
        dist, _, rest = codename.partition("-")
        pairs.add((dist, rest.removesuffix("-staging")))
    return sorted(pairs)  # type: ignore[arg-type]


def _known_projects(
    settings: Settings, display: Display, dist: str, series_id: str
) -> tuple[str, ...]:
    seen = records.read(settings.paths.watch_record(dist, series_id), WatchRecord.from_dict)
    names = set(seen.projects) if seen else set()
    if _published(settings):
        repo = repository.open_repository(settings, display, create=False)
        with repo.lock(display):
            for suite in repository.SUITES:
                codename = repo.codename(dist, series_id, suite)
                entries = repository.listing(repo, codename).values()
                names |= {e.name.removeprefix("venv-") for e in entries if _is_venv(e)}
    return tuple(sorted(names))


def _is_venv(entry: repository.Entry) -> bool:
    return entry.arch == "source" and entry.name.startswith("venv-")


def _published(settings: Settings) -> bool:
    return (repository.repository_root(settings) / "conf" / "distributions").exists()


def _codenames(settings: Settings, display: Display) -> list[str]:
    if not _published(settings):
        return []
    repo = repository.open_repository(settings, display, create=False)
    return repository.codenames(repo)


def watch_round(
    one: Watched, options: Options, settings: Settings, display: Display
) -> RoundResult:
    """Decide, release when the requirements moved, run the pipeline for what changed."""
    began = time.monotonic()
    result = RoundResult(one)
    where = settings.paths.watch_record(*one.key)
    seen = records.read(where, WatchRecord.from_dict)
    say = _Say(settings, display, one, options.dry_run)
    try:
        now = upstream(one, settings, display)
        result.versions = dict(now.versions)
        result.decisions = decide(one, seen, now)
        say(result.decisions)
        if seen is not None and any(d.repack for d in result.decisions):
            pins = _new_pins(one, options.dry_run, settings, display)
            chosen = {d.project for d in result.decisions if d.project}
            among = stale_requirements(one, seen, now) - chosen
            moved = lock_moves(seen, pins, among) or [
                Decision("", "no venv's lock changed: every venv keeps its package")
            ]
            result.decisions += moved
            say(moved)
        if result.rebuilt and not options.dry_run:
            result.ran = _pipeline(one, result.rebuilt, options.backend, settings, display)
            _require_passed(result.ran)
        if not options.dry_run:
            _remember(where, one, seen, now, result)
    except VenvpkgError as error:
        result.error = error.line()
        say.failed(result.error)
    if not result.decisions:
        display.info(f"{one.codename}: nothing changed upstream")
    result.seconds = time.monotonic() - began
    return result


def _require_passed(ran: pipeline.PipelineResult) -> None:
    if ran.passed and not ran.failed:
        return
    what = ", ".join(ran.failed) if ran.failed else "the tests"
    raise BuildFailed(f"{what} failed", "the next round tries again", [])


def upstream(
    one: Watched,
    settings: Settings,
    display: Display,
    versions: Mapping[str, str] | None = None,
) -> Upstream:
    """The requirements data, code and each project's newest release, as of now (or, for
    a build already made, at its `versions`: no index query)."""

    def request(name: str) -> debianize.Request:
        version = (versions or {}).get(name)
        return debianize.make_request(name, one.series.id, version, None, one.target.name, settings)

    # One index query per project: side by side, a round over six takes one query's time.
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(one.projects)))) as pool:
        wanted = dict(zip(one.projects, pool.map(request, one.projects), strict=True))
    versions = {name: str(r.version) for name, r in wanted.items()}
    options = {name: inputs.options_digest(r.options) for name, r in wanted.items()}
    return Upstream(
        _requirements_digest(one, settings),
        f"{one.series.ref} {one.series.commit[:10]} of {one.series.commit_date}",
        inputs.code_digest(),
        versions,
        options,
    )


def _requirements_digest(one: Watched, settings: Settings) -> str:
    """The requirements files a release reads (the updated copy, else the bundled one, as
    the release stage chooses) and the site's pin overrides."""
    found = {
        "data": requirements.bundled(one.series).fingerprint(),
        "overrides": settings.overrides.get(one.codename, {}),
    }
    return hashlib.sha256(json.dumps(found, sort_keys=True, default=str).encode()).hexdigest()


def _new_pins(
    one: Watched, dry_run: bool, settings: Settings, display: Display
) -> dict[str, tuple[Version, str]]:
    """The pins of the requirements package of every watched project's closure, packed
    (name -> version and digest), or for a dry run only planned (versions alone)."""
    plan = plan_release(ReleaseRequest(one.series, one.target, one.projects), settings, display)
    if dry_run:
        return {str(name): (version, "") for name, version in plan.wanted.items()}
    done = run_release(plan, settings, display)
    return {str(k): v for k, v in read_lock(done.wheelhouse / "requirements.lock").items()}


def _pipeline(
    one: Watched, rebuilt: list[str], backend: str | None, settings: Settings, display: Display
) -> pipeline.PipelineResult:
    wanted = pipeline.PipelineRequest(
        one.series, one.target, tuple(rebuilt), backend, release_projects=one.projects
    )
    return pipeline.run(wanted, settings, display)


def _remember(
    where: Path, one: Watched, seen: WatchRecord | None, now: Upstream, result: RoundResult
) -> None:
    """After a round that passed, every watched project is current with now's data and
    code: the rebuilt ones were made from them, the others were found unchanged by them."""
    shipped = {
        name: dataclasses.replace(entry, requirements=now.requirements, code=now.code)
        for name, entry in (seen.projects if seen else {}).items()
    }
    for job in result.ran.jobs if result.ran else []:
        lock = job.debianized.source_dir / "debian" / "requirements.lock"
        name = job.request.project
        shipped[name] = shipped_from(lock, str(job.request.version), now.options[name], now)
    if set(one.projects) - set(shipped):
        return  # a project never shipped: the next round builds it
    record = WatchRecord(*one.key, now.requirements, now.code, shipped, time.time())
    records.write(where, record)


def shipped_from(lock: Path, version: str, options: str, now: Upstream) -> Shipped:
    """A venv as shipped: its version, settings digest, lock pins and now's data and code."""
    pins = {str(k): f"{v} {d}" for k, (v, d) in read_lock(lock).items()}
    return Shipped(version, options, pins, now.requirements, now.code)


def record_shipped(
    names: list[str],
    only: tuple[str, ...],
    target: str | None,
    settings: Settings,
    display: Display,
) -> list[tuple[str, str, str]]:
    """Record the named projects as shipped from their newest build in this workdir,
    building nothing: a farm's master does this once it promoted a worker's build, so its
    poller stops asking for it. Returns (codename, project, version) of each."""
    done = []
    # The data the poller decides from: the updated copy, as a round uses it.
    update.use(settings)
    # Builds of two projects finish side by side; each must land in the record.
    with exclusive(settings.paths.lock("watch-record")):
        for one in watched(names, only, target, settings, display):
            where = settings.paths.watch_record(*one.key)
            seen = records.read(where, WatchRecord.from_dict)
            built = {name: _newest_build(settings, one, name) for name in one.projects}
            now = upstream(one, settings, display, {n: v for n, (v, _) in built.items()})
            shipped = dict(seen.projects) if seen else {}
            for name, (version, lock) in built.items():
                shipped[name] = shipped_from(lock, version, now.options[name], now)
                done.append((one.codename, name, version))
            base = (seen.requirements, seen.code) if seen else (now.requirements, now.code)
            records.write(where, WatchRecord(*one.key, *base, shipped, time.time()))
    return done


def _newest_build(settings: Settings, one: Watched, name: str) -> tuple[str, Path]:
    """The upstream version and venv lock of a project's newest build."""
    paths = settings.paths.release(*one.key)
    path, record = bundle.newest_build(paths, name)
    # The source is named by the Debian form (28.0.0~rc1); watch compares PEP 440's.
    try:
        version = versions.pep440(record.source.removeprefix(f"venv-{name}-"))
    except ValueError as error:
        raise DataError(f"{path}: {error}", "rebuild it: venvpkg build --rebuild") from None
    return version, bundle.venv_lock(paths, path, record)


@dataclass(frozen=True)
class _Say:
    """Print each decision and, unless a dry run, keep it for the status report."""

    settings: Settings
    display: Display
    one: Watched
    dry_run: bool

    def __call__(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            self.display.info(f"would: {decision.line}" if self.dry_run else decision.line)
            if not self.dry_run:
                _log(self.settings, self.one, decision.line)

    def failed(self, error: str) -> None:
        if not self.dry_run:
            _log(self.settings, self.one, f"failed: {error}")
        self.display.warn(f"{self.one.codename}: {error}")


def _log(settings: Settings, one: Watched, line: str) -> None:
    """Append one decision to the log the status report shows."""
    log = settings.paths.watch_log
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with log.open("a") as stream:
        stream.write(f"{stamp}\t{one.codename}\t{line}\n")
