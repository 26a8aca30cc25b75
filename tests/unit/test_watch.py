"""What `venvpkg watch` decides from what it shipped and what upstream has now."""

from __future__ import annotations

import pytest
from packaging.version import Version

from venvpkg import series, targets, watch
from venvpkg.errors import UsageError
from venvpkg.records import Shipped, WatchRecord

FLAMINGO = series.lookup("2025.2")
WATCHED = watch.Watched(FLAMINGO, targets.lookup("trixie"), ("keystone", "nova"))
PINS = {"alembic": "1.16.4 aaa", "oslo-db": "17.4.0 bbb"}
NOW = watch.Upstream(
    "req1",
    "stable/2025.2 0123456789 of 2026-11-30",
    "code1",
    {"keystone": "28.1.0", "nova": "32.1.0"},
    {"keystone": "opt", "nova": "opt"},
)


def _seen(**changes: object) -> WatchRecord:
    shipped = {
        "keystone": Shipped("28.1.0", "opt", PINS),
        "nova": Shipped("32.1.0", "opt", {"alembic": "1.16.4 aaa", "nova-only": "1.0 ccc"}),
    }
    fields = {"requirements": "req1", "code": "code1", "projects": shipped} | changes
    return WatchRecord("trixie", "2025.2", **fields)  # type: ignore[arg-type]


def test_nothing_changed_decides_nothing() -> None:
    assert watch.decide(WATCHED, _seen(), NOW) == []


def test_a_first_round_ships_every_project() -> None:
    decided = watch.decide(WATCHED, None, NOW)
    assert [d.project for d in decided] == ["keystone", "nova"]
    assert decided[0].line == "trixie-2025.2: first watch: shipping venv-keystone 28.1.0"


def test_a_new_point_release_rebuilds_that_project() -> None:
    seen = _seen()
    seen.projects["keystone"] = Shipped("28.0.2", "opt", PINS)  # type: ignore[index]
    decided = watch.decide(WATCHED, seen, NOW)
    assert decided == [
        watch.Decision("keystone", "keystone 28.1.0 is out for 2025.2: rebuilding venv-keystone")
    ]


def test_an_older_release_than_shipped_is_said_and_never_built() -> None:
    # A release withdrawn from the index, or the index out of reach (the data's older
    # release stands in): watch must not downgrade what operators run.
    seen = _seen()
    seen.projects["nova"] = Shipped("32.2.0", "opt", PINS)  # type: ignore[index]
    (decided,) = watch.decide(WATCHED, seen, NOW)
    assert decided.project == "" and not decided.repack
    assert decided.line.startswith(
        "nova: the newest release found is 32.1.0, older than the shipped 32.2.0: "
        "keeping venv-nova 32.2.0"
    )


def test_new_code_or_templates_rebuild_everything() -> None:
    decided = watch.decide(WATCHED, _seen(code="code0"), NOW)
    assert {d.project for d in decided} == {"keystone", "nova"}
    assert all("venvpkg or its templates changed" in d.line for d in decided)


def test_a_site_setting_rebuilds_that_project() -> None:
    seen = _seen()
    seen.projects["nova"] = Shipped("32.1.0", "other", PINS)  # type: ignore[index]
    (decided,) = watch.decide(WATCHED, seen, NOW)
    assert decided == watch.Decision("nova", "nova's site settings changed: rebuilding venv-nova")


def test_a_requirements_change_repacks_first_and_names_the_commit() -> None:
    (decided,) = watch.decide(WATCHED, _seen(requirements="req0"), NOW)
    assert decided.project == "" and decided.repack
    assert "stable/2025.2 0123456789 of 2026-11-30" in decided.line


def test_only_venvs_whose_lock_moved_are_rebuilt() -> None:
    pins = {
        "alembic": (Version("1.16.4"), "aaa"),
        "oslo-db": (Version("17.5.0"), "ddd"),
        "nova-only": (Version("1.0"), "ccc"),
    }
    both = {"keystone", "nova"}
    (moved,) = watch.lock_moves(_seen(), pins, both)
    assert moved == watch.Decision(
        "keystone", "keystone's lock changed (oslo-db 17.4.0 -> 17.5.0): rebuilding venv-keystone"
    )
    # Same version, other bytes (a rebuilt sdist): the venv changes too.
    pins["nova-only"] = (Version("1.0"), "eee")
    assert [d.project for d in watch.lock_moves(_seen(), pins, {"nova"})] == ["nova"]
    # A dry run plans versions without digests: an unchanged version is unmoved.
    planned = {n: (v, "") for n, (v, _) in pins.items()}
    assert [d.project for d in watch.lock_moves(_seen(), planned, both)] == ["keystone"]
    # A pin that left the requirements is named.
    del pins["nova-only"]
    said = [d.line for d in watch.lock_moves(_seen(), pins, both)]
    assert "nova's lock changed (nova-only 1.0 -> gone): rebuilding venv-nova" in said


def test_a_farm_ships_one_project_at_a_time_and_each_keeps_what_it_was_made_from() -> None:
    # keystone was shipped from now's data and code; nova still from older ones (its
    # build is queued on another worker, or failed): only nova is stale.
    seen = _seen(requirements="req0", code="code0")
    seen.projects["keystone"] = Shipped("28.1.0", "opt", PINS, "req1", "code1")  # type: ignore[index]
    assert watch.stale_requirements(WATCHED, seen, NOW) == {"nova"}
    decided = watch.decide(WATCHED, seen, NOW)
    assert [(d.project, d.repack) for d in decided] == [("", True), ("nova", False)]
    assert "venvpkg or its templates changed: rebuilding venv-nova" in decided[1].line


def test_a_project_shipped_now_is_current() -> None:
    # The record's own digests are old: the project's own, now's, decide.
    seen = _seen(requirements="req0", code="code0")
    seen.projects["keystone"] = Shipped("28.1.0", "opt", PINS, "req1", "code1")  # type: ignore[index]
    seen.projects["nova"] = Shipped("32.1.0", "opt", PINS, "req1", "code1")  # type: ignore[index]
    assert watch.decide(WATCHED, seen, NOW) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1.5h", 5400), ("2d", 172800), ("45", 45)],
)
def test_intervals(text: str, seconds: float) -> None:
    assert watch.parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1w", "soon", "-5m"])
def test_a_bad_interval_is_one_clear_line(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        watch.parse_interval(text)
