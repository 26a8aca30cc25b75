"""Override sets: shipped per target and series, changed by a site, applied to the pins."""

from __future__ import annotations

from importlib import resources

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from venvpkg import series, targets
from venvpkg.errors import VenvpkgError
from venvpkg.release import overrides, plan, requirements
from venvpkg.release.requirements import Pin


def _pins(**versions: str) -> dict:
    return {
        canonicalize_name(n): Pin(canonicalize_name(n), n, Version(v), "u-c")
        for n, v in versions.items()
    }


def test_queens_on_bullseye_replaces_what_python_39_cannot_build() -> None:
    shipped = overrides.load("bullseye", "queens", {})
    chosen = {o.name: str(o.version) for o in shipped.pins}
    assert chosen["cffi"] == "1.12.3" and chosen["greenlet"] == "0.4.17"
    assert all(o.reason and "bullseye-queens.toml" in o.origin for o in shipped.pins)
    assert "libssl-dev" in dict(shipped.build_packages)


def test_a_target_and_series_without_a_set_replace_nothing() -> None:
    assert overrides.load("bookworm", "2025.2", {}) == overrides.OverrideSet()


def test_a_site_adds_and_cancels_and_the_listing_names_both_versions() -> None:
    site = {
        "bullseye-queens": {
            "greenlet": {"cancel": True},
            "lxml": {"version": "4.6.5", "reason": "our XML"},
        }
    }
    changed = overrides.load("bullseye", "queens", site)
    names = [o.name for o in changed.pins]
    assert "greenlet" not in names and "lxml" in names
    pins = _pins(**{o.name: "0.1" for o in changed.pins}) | _pins(lxml="4.1.1")
    applied = changed.apply(pins)
    assert applied[canonicalize_name("lxml")].version == Version("4.6.5")
    assert "lxml 4.1.1 -> 4.6.5  # our XML (venvpkg.toml [overrides.bullseye-queens])" in (
        changed.listing(pins)
    )


def test_an_override_of_a_name_the_branch_does_not_pin_is_refused() -> None:
    with pytest.raises(VenvpkgError, match="the branch does not pin it"):
        overrides.load("bullseye", "queens", {}).apply(_pins(cffi="1.11.4"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("1.2", "an override is"),
        ({"version": "one", "reason": "r"}, "'one' is not a version"),
        ({"version": "1.2", "reason": " "}, "the reason is empty"),
        ({"version": "1.2"}, "an override is"),
    ],
)
def test_malformed_site_entries_name_the_entry(entry: object, message: str) -> None:
    with pytest.raises(VenvpkgError, match=message) as caught:
        overrides.load("trixie", "2025.2", {"trixie-2025.2": {"pbr": entry}})
    assert "[overrides.trixie-2025.2] pbr" in caught.value.message


def _shipped_sets() -> list[str]:
    folder = resources.files("venvpkg").joinpath("data", "overrides")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


@pytest.mark.parametrize("key", _shipped_sets())
def test_every_shipped_set_replaces_a_pin_its_branch_has_for_that_target(key: str) -> None:
    dist, name = key.split("-", 1)
    target, branch = targets.lookup(dist), series.lookup(name)
    pins, _denied = plan.applicable_pins(requirements.bundled(branch), target, branch)
    shipped = overrides.load(dist, name, {})
    assert shipped.pins
    for override in shipped.pins:
        assert override.name in pins, override.name
        assert pins[override.name].version != override.version, override.name
        assert len(override.reason) > 30, override.name
    applied = shipped.apply(pins)  # raises on a name the branch does not pin
    for override in shipped.pins:
        if override.version is None:
            assert override.name not in applied
        else:
            assert applied[override.name].version == override.version


def test_an_omitted_pin_leaves_the_wheelhouse_and_the_listing_says_why() -> None:
    shipped = overrides.load("bullseye", "queens", {})
    pins = _pins(**{o.name: "0.1" for o in shipped.pins}) | _pins(**{"typed-ast": "1.1.0"})
    applied = shipped.apply(pins)
    assert "typed-ast" not in applied and "cffi" in applied
    assert "typed-ast 1.1.0 -> omitted  # 1.1.0 does not compile on Python 3.9" in shipped.listing(
        pins
    )
