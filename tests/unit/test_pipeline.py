"""The pipeline's order and its decisions, with each stage standing in for itself.

The stages are tested with real tools elsewhere (tests/integration); here they only say
what they were asked, so the chain's own logic can be checked without any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from venvpkg import builder, pipeline, series, targets
from venvpkg.config import Settings
from venvpkg.errors import BuildFailed
from venvpkg.progress import Display
from venvpkg.records import BuildStatus, Step, TestRecord
from venvpkg.ship import publish

STAGED = {("venv-fixsvc", "90:1.0-1+deb12")}


class Chain:
    """Records the stage calls; each answer can be set per test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.status = BuildStatus.BUILT
        self.tests_pass = True
        self.passed_before: set[tuple[str, str]] = set()
        patches: dict[str, Any] = {
            "plan_release": lambda request, *_: self.call("plan", request),
            "run_release": lambda *_: self.call("release"),
            "debianize.make_request": lambda project, *_: project,
            "debianize.debianize": lambda request, *_: self.call(f"debianize {request}", request),
            "builder.build_all": self.build_all,
            "publish.publish": lambda *_: self.call("publish", publish.PublishResult("c")),
            "check.passed_versions": lambda *_: self.passed_before,
            "check.run_tests": self.run_tests,
            "publish.promote": lambda *args: self.call(f"promote {sorted(args[-1])}"),
            "report.write": lambda *_: self.call("report", Path("status.html")),
            "_listed": lambda request, settings, display, suite: STAGED,
        }
        for name, value in patches.items():
            owner, _, attribute = name.rpartition(".")
            monkeypatch.setattr(getattr(pipeline, owner) if owner else pipeline, attribute, value)

    def call(self, name: str, answer: Any = None) -> Any:
        self.calls.append(name)
        return answer

    def build_all(self, jobs: list[builder.Job], *_: Any) -> list[builder.BuildResult]:
        self.calls.append(f"build {len(jobs)}")
        return [builder.BuildResult("fixsvc", "90:1.0-1+deb12", self.status)]

    def run_tests(self, *args: Any) -> TestRecord:
        self.calls.append("test" if args[-1] is None else f"test from {args[-1]}")
        verdict = (Step("install", self.tests_pass),)
        record = TestRecord("bookworm", "2025.2", dict(STAGED), {}, verdict)
        self.passed_before = record.passed_versions()
        return record


def _run(dist: str = "bookworm") -> pipeline.PipelineResult:
    request = pipeline.PipelineRequest(series.lookup("2025.2"), targets.lookup(dist), ("fixsvc",))
    return pipeline.run(request, Settings(workdir=Path("/nonexistent")), Display(-1))


def test_stages_run_in_order_and_what_passed_is_promoted(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain(monkeypatch)
    result = _run()
    assert chain.calls == [
        "plan",
        "release",
        "debianize fixsvc",
        "build 1",
        "publish",
        "test",
        f"promote {sorted(STAGED)}",
        "report",
    ]
    assert result.passed and result.production == STAGED
    assert list(result.seconds) == ["release", "debianize", "build", "publish", "test", "promote"]


def test_a_failed_build_stops_before_anything_is_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = Chain(monkeypatch)
    chain.status = BuildStatus.FAILED
    with pytest.raises(BuildFailed, match="builds failed: fixsvc"):
        _run()
    assert "publish" not in chain.calls and "test" not in chain.calls


def test_versions_that_passed_before_are_not_tested_again(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain(monkeypatch)
    chain.passed_before = set(STAGED)
    result = _run()
    assert result.tests_cached and "test" not in chain.calls
    assert f"promote {sorted(STAGED)}" in chain.calls


def test_failed_tests_promote_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain(monkeypatch)
    chain.tests_pass = False
    result = _run()
    assert not result.passed
    assert not [c for c in chain.calls if c.startswith("promote")]


def test_a_failed_release_stops_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = Chain(monkeypatch)

    def failed(*_: Any) -> None:
        chain.call("release")
        raise BuildFailed("1 of 2 pins cannot be built for trixie", "see above", [])

    monkeypatch.setattr(pipeline, "run_release", failed)
    with pytest.raises(BuildFailed, match="cannot be built for trixie"):
        _run("trixie")
    assert chain.calls[-1] == "release" and not [c for c in chain.calls if "debianize" in c]


def test_a_series_new_to_production_is_upgraded_from_the_newest_older_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = Chain(monkeypatch)
    production = {"2024.2": STAGED, "2025.1": STAGED}

    def listed(request: pipeline.PipelineRequest, *args: Any) -> set[tuple[str, str]]:
        suite = args[-1]
        return STAGED if suite == "staging" else production.get(request.series.id, set())

    monkeypatch.setattr(pipeline, "_listed", listed)
    _run()
    assert "test from 2025.1" in chain.calls
    production["2025.2"] = STAGED
    chain.calls.clear()
    chain.passed_before = set()
    _run()
    assert "test" in chain.calls
