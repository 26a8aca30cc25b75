"""The whole chain for a series: release -> debianize -> build -> publish -> test -> promote.

Every stage skips what is already done (an unchanged wheelhouse, a cached build, a version
already published, a test that passed for exactly these versions), so an interrupted
pipeline re-run picks up where it stopped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from venvpkg import build, chroot, debianize, series, targets
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed
from venvpkg.progress import Display
from venvpkg.release import requirements
from venvpkg.release.plan import ReleasePlan, make_plan
from venvpkg.release.wheelhouse import run_release
from venvpkg.ship import publish, report
from venvpkg.ship import test as check


def plan_release(
    chosen: series.Series,
    target: targets.Target,
    specs: list[str],
    requirements_source: str | None,
    allow_missing: bool,
    settings: Settings,
    display: Display,
) -> ReleasePlan:
    """The wheelhouse plan for these projects, with the extra packages their venvs take."""
    targets.require_host_can_build(target)
    data = requirements.load(chosen, requirements_source, settings.workdir)
    extra = tuple(
        requirement
        for spec in specs
        for requirement in debianize.project_options(spec.split("==")[0], settings).get(
            "extra-packages", ()
        )
    )
    display.info(f"planning {chosen.label} for {target.name} from {data.origin}")
    # Here, where the plan is made: a run for another release plans inside its chroot.
    untested = series.untested(chosen, target)
    if untested:
        display.warn(untested)
    if data.dated_by == "newest file":
        display.warn(
            f"{data.origin} has no commit; dated {data.commit_date} by its newest file, which "
            "a copy changes (and with it the wheels' digests): set SOURCE_DATE_EPOCH to fix it"
        )
    elif data.dated_by != "commit":
        display.info(f"dated {data.commit_date} by {data.dated_by}")
    return make_plan(
        chosen,
        target,
        data,
        project_specs=specs,
        allow_missing=allow_missing,
        index_url=settings.index_url,
        workdir=settings.workdir,
        extra_requirements=extra,
    )


def release_in_chroot(
    chosen: series.Series,
    target: targets.Target,
    specs: list[str],
    requirements_source: str | None,
    flags: list[str],
    settings: Settings,
    display: Display,
) -> int:
    """Wheels for another Debian release are built by venvpkg running on that release."""
    targets.require_venvpkg_runs_on(target)
    root = chroot.release_root(target.name, settings, display)
    chroot.install_venvpkg(root, settings, display)
    inner = ["release", chosen.id, "--target", target.name]
    inner += ["--projects", ",".join(specs)] if specs else []
    inner += ["--workdir", str(settings.workdir), "-j", str(settings.jobs)]
    inner += ["--index-url", settings.index_url, *flags]
    binds = []
    for flag, value in (
        ("--requirements", requirements_source),
        ("--config", settings.config_file),
    ):
        if value:
            local = Path(value).absolute()
            inner += [flag, str(local) if local.exists() else str(value)]
            binds += [local.parent] if local.exists() else []
    inner += [f for f, on in (("--json", settings.json), ("--debug", settings.debug)) if on]
    inner += ["-v"] * max(0, settings.verbosity) + ["-q"] * max(0, -settings.verbosity)
    display.info(f"building {target.name}'s wheelhouse inside its chroot ({root})")
    return chroot.run_venvpkg(root, inner, settings, binds)


@dataclass
class PipelineResult:
    dist: str
    series: str
    builds: list[build.BuildResult] = field(default_factory=list)
    published: publish.PublishResult | None = None
    tests: check.TestResult | None = None
    tests_cached: bool = False
    # (package, version) in production after the run, promoted now or by an earlier run.
    production: set[tuple[str, str]] = field(default_factory=set)
    report: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def run(
    chosen: series.Series,
    target: targets.Target,
    projects: list[str],
    settings: Settings,
    display: Display,
    backend: str | None = None,
) -> PipelineResult:
    result = PipelineResult(target.name, chosen.id)
    dist, series_id = target.name, chosen.id
    with _timed(result, "release"):
        _release(chosen, target, projects, settings, display)
    with _timed(result, "debianize"):
        jobs = []
        for project in projects:
            request = debianize.make_request(project, series_id, None, None, dist, settings)
            jobs.append(build.Job(request, debianize.debianize(request, settings, display)))
    with _timed(result, "build"):
        chosen_options = build.options(settings, backend, False)
        result.builds = build.build_all(jobs, settings, display, chosen_options)
    failed = [b.project for b in result.builds if b.status == "failed"]
    if failed:
        raise BuildFailed(f"builds failed: {', '.join(failed)}", "see the warnings above", [])
    with _timed(result, "publish"):
        result.published = publish.publish(settings, display, dist, series_id)
    with _timed(result, "test"):
        staged = _listed(settings, display, dist, series_id, "staging", projects)
        if staged and staged <= check.passed_versions(settings.workdir, dist, series_id):
            result.tests_cached = True
        else:
            result.tests = check.run_tests(settings, display, dist, series_id, projects)
    with _timed(result, "promote"):
        passed = check.passed_versions(settings.workdir, dist, series_id)
        if result.tests_cached or (result.tests and result.tests.passed):
            publish.promote(settings, display, dist, series_id, passed)
        result.production = _listed(settings, display, dist, series_id, "production", projects)
    result.report = report.write(settings, display)
    return result


@contextlib.contextmanager
def _timed(result: PipelineResult, stage: str) -> Iterator[None]:
    """Record how long a stage took, for the summary and benchmarks/pipeline.py."""
    began = time.monotonic()
    try:
        yield
    finally:
        result.seconds[stage] = time.monotonic() - began


def _release(
    chosen: series.Series,
    target: targets.Target,
    projects: list[str],
    settings: Settings,
    display: Display,
) -> None:
    """The requirements package: here for the host's release, else inside a chroot."""
    if targets.host_is(target):
        plan = plan_release(chosen, target, projects, None, False, settings, display)
        run_release(plan, settings, display)
    elif release_in_chroot(chosen, target, projects, None, [], settings, display):
        raise BuildFailed(f"release {chosen.id} for {target.name} failed", "see above", [])


def _listed(
    settings: Settings,
    display: Display,
    dist: str,
    series_id: str,
    suite: str,
    projects: list[str],
) -> set[tuple[str, str]]:
    """(package, version) of the projects' packages in one suite (staging or production)."""
    repo = publish.open_repository(settings, display)
    with repo.lock(display):
        entries = publish.listing(repo, repo.codename(dist, series_id, suite)).values()
    wanted = {f"venv-{p}" for p in projects}
    return {(e.name, e.version) for e in entries if e.source in wanted}
