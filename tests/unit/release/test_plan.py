from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from packaging.version import Version

from venvpkg import projects, series, targets
from venvpkg.config import Settings
from venvpkg.errors import UsageError
from venvpkg.release import ReleaseRequest, plan, requirements

FLAMINGO = series.lookup("2025.2")
BOOKWORM = targets.lookup("bookworm")


@pytest.fixture(autouse=True)
def _no_installer_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # These plans are decided from pins alone. Whether the index has uv's wheel is the
    # integration tests' to check; here it was a lookup of an index that does not
    # exist, 15 s of retries per plan.
    monkeypatch.setattr(plan, "_installer", lambda settings, target: "")


def _data(uc: str, denylist: str = "") -> requirements.RequirementsData:
    return requirements.RequirementsData(
        "test",
        "stable/2025.2",
        "2026-05-05",
        uc,
        denylist,
        "setuptools<82\n",
        "gcc [platform:dpkg]\n",
    )


def _plan(data: requirements.RequirementsData, workdir: Path) -> plan.ReleasePlan:
    settings = Settings(workdir=workdir, index_url="http://index/")
    return plan.make_plan(ReleaseRequest(FLAMINGO, BOOKWORM, services=()), data, settings)


def test_full_plan_takes_every_applicable_pin_but_the_denylist(tmp_path: Path) -> None:
    made = _plan(
        _data("a===1\nb===2\nflake8===7\nold===1;python_version<'3'\n", "flake8\n"), tmp_path
    )
    assert made.wanted == {"a": Version("1"), "b": Version("2")}
    assert made.build_depends == ("gcc",)
    assert made.build_constraints == "setuptools<82\n"


def test_fingerprint_changes_with_a_pin_and_only_then(tmp_path: Path) -> None:
    first = _plan(_data("a===1\nb===2\n"), tmp_path)
    assert first.fingerprint() == _plan(_data("a===1\nb===2\n"), tmp_path).fingerprint()
    assert first.fingerprint() != _plan(_data("a===1\nb===3\n"), tmp_path).fingerprint()
    assert first.fingerprint() != replace(first, allow_missing=True).fingerprint()


def test_project_versions_come_from_openstack_releases() -> None:
    (keystone,) = projects.project_pins(FLAMINGO, ["keystone"])
    assert keystone.requirement() == "keystone==28.0.2"
    (placement,) = projects.project_pins(FLAMINGO, ["placement==14.0.0"])
    assert placement.requirement() == "openstack-placement==14.0.0"


def test_end_of_life_series_default_to_their_last_release() -> None:
    # openstack/releases ends queens with a queens-eol tag; the last release came before it.
    queens = series.lookup("queens")
    (keystone, nova) = projects.project_pins(queens, ["keystone", "nova"])
    assert (keystone.requirement(), nova.requirement()) == ("keystone==13.0.4", "nova==17.0.13")


def test_a_project_that_never_released_in_a_series_needs_an_explicit_version() -> None:
    never = projects.Project("fixsvc", "service", "queens-eol")
    with pytest.raises(UsageError, match="fixsvc has no release version for queens"):
        projects._project_version(series.lookup("queens"), never, "")


def test_unknown_project_suggests_close_names() -> None:
    with pytest.raises(UsageError, match=r"unknown project 'keystnoe'.*did you mean keystone"):
        projects.project_pins(FLAMINGO, ["keystnoe"])


def test_build_tools_are_dated_by_the_earlier_of_commit_and_end_of_maintenance() -> None:
    data = requirements.RequirementsData("t", "unmaintained/2024.1", "2026-04-27", "", "", "", "")
    caracal = series.lookup("2024.1")
    assert plan.branch_rules(data, "", caracal).dated_before == "2025-10-03"
    fresh = requirements.RequirementsData("t", "stable/2024.1", "2024-06-01", "", "", "", "")
    assert plan.branch_rules(fresh, "", caracal).dated_before == "2024-06-01"
