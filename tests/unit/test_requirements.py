from __future__ import annotations

import pytest
from packaging.version import Version

from venvpkg import requirements, targets
from venvpkg.errors import DataError

BOOKWORM = targets.lookup("bookworm")


def test_markers_pick_the_pin_for_the_targets_python() -> None:
    text = "scipy===1.13.1;python_version=='3.9'\nscipy===1.15.3;python_version>='3.10'\n"
    assert requirements.parse_constraints(text, "uc", BOOKWORM)["scipy"].version == Version(
        "1.15.3"
    )
    bullseye = requirements.parse_constraints(text, "uc", targets.lookup("bullseye"))
    assert bullseye["scipy"].version == Version("1.13.1")


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
