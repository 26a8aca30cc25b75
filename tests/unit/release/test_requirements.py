from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.version import Version

from tests.conftest import commit_tree
from venvpkg import targets
from venvpkg.errors import DataError, UsageError
from venvpkg.release import requirements
from venvpkg.series import lookup

BOOKWORM = targets.lookup("bookworm")


def test_markers_pick_the_pin_for_the_targets_python() -> None:
    text = "scipy===1.13.1;python_version=='3.9'\nscipy===1.15.3;python_version>='3.10'\n"
    assert requirements.parse_constraints(text, "uc", BOOKWORM)["scipy"].version == Version(
        "1.15.3"
    )
    bullseye = requirements.parse_constraints(text, "uc", targets.lookup("bullseye"))
    assert bullseye["scipy"].version == Version("1.13.1")


def test_a_newer_python_takes_the_branchs_newest_tested_line_but_not_a_backports() -> None:
    # As ussuri pins them: once per tested Python (3.6 to 3.8), nothing for bullseye's 3.9.
    text = (
        "os-vif===1.17.0;python_version=='2.7'\n"
        "os-vif===2.0.1;python_version=='3.6'\n"
        "os-vif===2.0.0;python_version=='3.8'\n"
        "dataclasses===0.7;python_version=='3.6'\n"
        "typing===3.7.4;python_version<'3.7'\n"
    )
    bullseye = targets.lookup("bullseye")
    pins = requirements.parse_constraints(text, "uc", bullseye, Version("3.8"))
    assert set(pins) == {"os-vif"}
    assert pins["os-vif"].version == Version("2.0.0") and pins["os-vif"].for_python == "3.8"
    assert pins["os-vif"].origin == "uc:3"
    # Without the series' newest tested Python, or for a Python a line names, no stand-in.
    assert requirements.parse_constraints(text, "uc", bullseye) == {}
    trixie = requirements.parse_constraints(text, "uc", targets.lookup("trixie"), Version("3.9"))
    assert trixie == {}


def test_names_are_normalised_and_comments_ignored() -> None:
    pins = requirements.parse_constraints(
        "# header\noslo.config===10.0.0  # trailing\n\n", "uc", BOOKWORM
    )
    assert list(pins) == ["oslo-config"]
    assert str(pins["oslo-config"]) == "oslo.config==10.0.0"


def test_malformed_line_names_file_and_line() -> None:
    with pytest.raises(DataError, match=r"^uc.txt:2: malformed constraint"):
        requirements.parse_constraints("a===1\nb=== ===\n", "uc.txt", BOOKWORM)


def test_range_instead_of_pin_is_refused() -> None:
    with pytest.raises(DataError, match=r"uc\.txt:1: b>=1 is not an exact pin"):
        requirements.parse_constraints("b>=1\n", "uc.txt", BOOKWORM)


def test_denylist_names() -> None:
    assert requirements.parse_names("# linters\nflake8\nhacking>=3 # note\n") == {
        "flake8",
        "hacking",
    }


def test_bundled_data_for_every_series_parses() -> None:
    from venvpkg import series

    for each in series.catalog():
        data = requirements.bundled(each)
        pins = requirements.parse_constraints(data.upper_constraints, each.id, BOOKWORM)
        assert len(pins) > 300, each.id


def _plain_copy(tmp_path: Path, name: str, day: str) -> Path:
    """A copy of a requirements branch whose files last changed on `day`."""
    directory = tmp_path / name
    directory.mkdir()
    (directory / "upper-constraints.txt").write_text("pbr===6.1.1\n")
    stamp = datetime.strptime(day, "%Y-%m-%d").replace(hour=12, tzinfo=UTC).timestamp()
    os.utime(directory / "upper-constraints.txt", (stamp, stamp))
    return directory


def test_a_plain_directory_is_dated_by_its_newest_file_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    data = requirements.load(
        lookup("2025.2"), str(_plain_copy(tmp_path, "a", "2026-03-04")), tmp_path
    )
    assert (data.commit_date, data.dated_by) == ("2026-03-04", "newest file")


def test_source_date_epoch_dates_copies_made_on_different_days_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1756684800")  # 2025-09-01 00:00 UTC
    first = requirements.load(
        lookup("2025.2"), str(_plain_copy(tmp_path, "a", "2026-03-04")), tmp_path
    )
    second = requirements.load(
        lookup("2025.2"), str(_plain_copy(tmp_path, "b", "2026-11-30")), tmp_path
    )
    assert first.commit_date == second.commit_date == "2025-09-01"
    assert first.dated_by == "SOURCE_DATE_EPOCH"


@pytest.mark.parametrize("value", ["2025-09-01", "²", "٣", "253402300800", "9" * 20])
def test_a_malformed_source_date_epoch_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(UsageError, match=f"SOURCE_DATE_EPOCH='{value}' is not a number"):
        requirements.load(lookup("2025.2"), str(_plain_copy(tmp_path, "a", "2026-03-04")), tmp_path)


def test_a_git_checkout_keeps_its_commit_date_whatever_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = _plain_copy(tmp_path, "a", "2026-03-04")
    commit_tree(checkout, "2025-08-28T10:00:00Z")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1756684800")
    data = requirements.load(lookup("2025.2"), str(checkout), tmp_path)
    assert (data.commit_date, data.dated_by) == ("2025-08-28", "commit")
