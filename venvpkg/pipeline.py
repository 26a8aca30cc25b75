"""The whole chain for a series: release -> debianize -> build -> publish -> test -> promote.

Each stage hands the next its record (records.py). Every stage skips what is already done
(an unchanged wheelhouse, a cached build, a version already published, a test that passed
for exactly these versions), so an interrupted pipeline re-run picks up where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from venvpkg import builder, debianize, series, targets
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed, VenvpkgError
from venvpkg.progress import Display
from venvpkg.records import BuildStatus, TestRecord
from venvpkg.release import ReleaseRequest, plan_release
from venvpkg.release.wheelhouse import run_release
from venvpkg.ship import publish, report, repository
from venvpkg.ship import test as check


@dataclass(frozen=True)
class PipelineRequest:
    series: series.Series
    target: targets.Target
    projects: tuple[str, ...]
    backend: str | None = None
    # --all: every service of the series, from a full release; one that fails is named
    # and the rest still ship.
    every: bool = False
    # The projects whose closure the requirements package holds (default: `projects`):
    # `venvpkg watch` rebuilds a few venvs from the package all its projects share.
    release_projects: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.target.name, self.series.id


@dataclass
class PipelineResult:
    dist: str
    series: str
    builds: list[builder.BuildResult] = field(default_factory=list)
    published: publish.PublishResult | None = None
    tests: TestRecord | None = None
    tests_cached: bool = False
    # (package, version) in production after the run, promoted now or by an earlier run.
    production: set[tuple[str, str]] = field(default_factory=set)
    report: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    # Projects that did not debianize or build (with --all the others go on).
    failed: list[str] = field(default_factory=list)
    # What each project was debianized as.
    jobs: list[builder.Job] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.tests_cached or bool(self.tests and self.tests.passed)


def run(request: PipelineRequest, settings: Settings, display: Display) -> PipelineResult:
    result = PipelineResult(*request.key)
    with _timed(result, "release"):
        release(request, settings, display)
    with _timed(result, "debianize"):
        result.jobs = _debianized_all(request, settings, display, result)
    with _timed(result, "build"):
        chosen = builder.options(settings, request.backend, False)
        result.builds = builder.build_all(result.jobs, settings, display, chosen)
    result.failed += [b.project for b in result.builds if b.status == BuildStatus.FAILED]
    if result.failed and (not request.every or len(result.failed) == len(request.projects)):
        failed = ", ".join(result.failed)
        raise BuildFailed(f"builds failed: {failed}", "see the warnings above", [])
    with _timed(result, "publish"):
        result.published = publish.publish(settings, display, *request.key)
    with _timed(result, "test"):
        _test(request, settings, display, result)
    with _timed(result, "promote"):
        if result.passed:
            passed = check.passed_versions(settings.paths, *request.key)
            publish.promote(settings, display, *request.key, passed)
        result.production = _listed(request, settings, display, "production")
    result.report = report.write(settings, display)
    return result


def release(request: PipelineRequest, settings: Settings, display: Display) -> None:
    """The requirements package of the projects' closure; with --all, of the whole series
    and what its services need beyond upper-constraints."""
    projects = () if request.every else request.release_projects or request.projects
    wanted = ReleaseRequest(request.series, request.target, projects)
    run_release(plan_release(wanted, settings, display), settings, display)


def _debianized_all(
    request: PipelineRequest, settings: Settings, display: Display, result: PipelineResult
) -> list[builder.Job]:
    jobs = []
    for project in request.projects:
        try:
            jobs.append(_debianized(project, request, settings, display))
        except VenvpkgError as error:
            if not request.every:
                raise
            display.warn(f"{project}: {error.line()}")
            result.failed.append(project)
    return jobs


def _debianized(
    project: str, request: PipelineRequest, settings: Settings, display: Display
) -> builder.Job:
    dist, series_id = request.key
    wanted = debianize.make_request(project, series_id, None, None, dist, settings)
    return builder.Job(wanted, debianize.debianize(wanted, settings, display))


def _test(
    request: PipelineRequest, settings: Settings, display: Display, result: PipelineResult
) -> None:
    """Test staging's packages, unless exactly these versions passed before."""
    staged = _listed(request, settings, display, "staging")
    if staged and staged <= check.passed_versions(settings.paths, *request.key):
        result.tests_cached = True
    else:
        projects = list(request.projects)
        start = _upgrade_from(request, settings, display)
        result.tests = check.run_tests(settings, display, *request.key, projects, start)


@contextlib.contextmanager
def _timed(result: PipelineResult, stage: str) -> Iterator[None]:
    """Record how long a stage took, for the summary and benchmarks/pipeline.py."""
    began = time.monotonic()
    try:
        yield
    finally:
        result.seconds[stage] = time.monotonic() - began


def _upgrade_from(request: PipelineRequest, settings: Settings, display: Display) -> str | None:
    """Where the upgrade test starts: this series' production when it has the projects,
    else the newest older series whose production has them (an operator moving up)."""
    if _listed(request, settings, display, "production"):
        return None
    catalog = series.catalog()
    older = catalog[: [s.id for s in catalog].index(request.series.id)]
    for candidate in reversed(older):
        earlier = dataclasses.replace(request, series=candidate)
        if _listed(earlier, settings, display, "production"):
            display.info(f"the upgrade test starts from {candidate.label}'s production")
            return candidate.id
    return None


def _listed(
    request: PipelineRequest, settings: Settings, display: Display, suite: str
) -> set[tuple[str, str]]:
    """(package, version) of the projects' packages in one suite (staging or production)."""
    repo = repository.open_repository(settings, display)
    with repo.lock(display):
        entries = repository.listing(repo, repo.codename(*request.key, suite)).values()
    wanted = {f"venv-{p}" for p in request.projects}
    return {(e.name, e.version) for e in entries if e.source in wanted}
