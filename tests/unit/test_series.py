from __future__ import annotations

import pytest

from venvpkg import series, targets
from venvpkg.errors import UsageError


def test_catalog_runs_from_queens_to_2026_2() -> None:
    ids = [s.id for s in series.catalog()]
    assert ids[0] == "queens"
    assert ids[-1] == "2026.2"
    assert len(ids) == 18
    assert "pike" not in ids and "2027.1" not in ids


@pytest.mark.parametrize(
    ("name", "codename"),
    [
        ("2025.2", "flamingo"),
        ("FLAMINGO", "flamingo"),
        ("caracal", "caracal"),
        (" 2024.1 ", "caracal"),
        ("Queens", "queens"),
    ],
)
def test_lookup_by_number_or_codename_in_any_case(name: str, codename: str) -> None:
    assert series.lookup(name).codename == codename


def test_unknown_series_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as caught:
        series.lookup("flamingoo")
    assert "did you mean flamingo?" in caught.value.line()


def test_series_carry_their_requirements_ref() -> None:
    assert series.lookup("2025.2").ref == "stable/2025.2"
    assert series.lookup("2026.2").ref == "master"
    assert series.lookup("2026.2").status == "development"


@pytest.mark.parametrize(
    ("name", "target"),
    [("queens", "bullseye"), ("yoga", "bullseye"), ("2024.1", "bookworm"), ("2025.2", "trixie")],
)
def test_default_target_is_the_newest_debian_with_a_tested_python(name: str, target: str) -> None:
    assert series.lookup(name).default_target.name == target


def test_a_series_no_debian_python_was_tested_with_says_so() -> None:
    assert series.lookup("queens").target_reason == "works, untested; past LTS"
    assert series.lookup("2024.1").target_reason == "tested; oldstable, LTS"


def test_unknown_target_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UsageError, match="did you mean bookworm"):
        targets.lookup("bookwrm")


def test_target_the_host_cannot_build_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    os_release = tmp_path / "os-release"
    os_release.write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    with pytest.raises(
        UsageError, match=r"target trixie needs its own python3\.13; this host is bookworm"
    ):
        targets.require_host_can_build(targets.lookup("trixie"), os_release)


def test_a_target_outside_the_series_tested_pythons_is_named() -> None:
    assert series.untested(series.lookup("2025.2"), targets.lookup("trixie")) is None
    assert series.untested(series.lookup("2025.2"), targets.lookup("bookworm")) is None
    assert series.untested(series.lookup("queens"), targets.lookup("trixie")) == (
        "queens was tested on Python 2.7 to 3.5; trixie has 3.13, "
        "so some pins may not build or run there"
    )


def test_a_series_is_maintained_for_18_months_from_its_release() -> None:
    assert series.lookup("2024.1").maintained_until == "2025-10-03"
    assert series.lookup("queens").maintained_until == "2019-08-30"
