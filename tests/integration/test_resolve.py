"""Closures against the local fixture index: the walk, and pip-tools where it must decide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import targets
from venvpkg.index import Index
from venvpkg.release import resolve
from venvpkg.workdir import Workdir

BOOKWORM = targets.lookup("bookworm")


def _closure(
    requirements: list[str], index_url: str, workdir: Path, **pins: str
) -> dict[NormalizedName, Version]:
    layout = Workdir(workdir)
    index = Index(index_url, layout.cache("index"))
    resolver = resolve.Resolver(index, layout, BOOKWORM, resolve.Rules(), workdir / "resolve.log")
    return resolver.closure(
        requirements, {canonicalize_name(n): Version(v) for n, v in pins.items()}
    )


def _names(found: dict[NormalizedName, Version]) -> dict[str, str]:
    return {str(n): str(v) for n, v in found.items()}


def test_fully_pinned_closure_is_walked_without_pip_compile(index_url: str, tmp_path: Path) -> None:
    found = _closure(
        ["fixproj==1.0"],
        index_url,
        tmp_path,
        **{"fixlib-a": "1.0", "fixlib-b": "1.0", "fixlib-c": "2.0", "fixlib-transitive": "3.0"},
    )
    assert _names(found) == {
        "fixproj": "1.0",
        "fixlib-a": "1.0",
        "fixlib-b": "1.0",
        "fixlib-c": "2.0",
        "fixlib-transitive": "3.0",
    }
    assert not (tmp_path / "resolve.log").exists()
    # Wheels were read through their PEP 658 metadata; only the three sdists came down.
    assert len([f for f in (tmp_path / "cache" / "files").rglob("*") if f.is_file()]) == 3


def test_unpinned_and_dynamic_names_are_left_to_pip_compile(index_url: str, tmp_path: Path) -> None:
    # fixlib-dynamic's sdist hides its requirements; fixlib-a is unpinned, so pip-compile
    # picks the newest (1.1).
    found = _closure(["fixlib-dynamic==1.0"], index_url, tmp_path)
    assert _names(found) == {"fixlib-dynamic": "1.0", "fixlib-a": "1.1"}
    assert (tmp_path / "resolve.log").exists()
    assert not list((tmp_path / "tmp").iterdir())  # pip-compile's scratch is gone


def test_a_failed_pip_compile_leaves_no_scratch_behind(index_url: str, tmp_path: Path) -> None:
    with pytest.raises(resolve.ResolutionFailed, match=re.escape("fixlib-a==9.9")):
        _closure(["fixlib-dynamic==1.0", "fixlib-a==9.9"], index_url, tmp_path)
    assert not list((tmp_path / "tmp").iterdir())


def test_contradicting_pins_name_the_requirement(index_url: str, tmp_path: Path) -> None:
    with pytest.raises(
        resolve.ResolutionFailed, match=re.escape("requires fixlib-a>=1.1, but 1.0 is pinned")
    ):
        _closure(["fixlib-b==1.0", "fixlib-a>=1.1"], index_url, tmp_path, **{"fixlib-a": "1.0"})
