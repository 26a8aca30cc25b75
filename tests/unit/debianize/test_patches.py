"""Quilt patches: venvpkg's per series, a site's beside or instead of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from venvpkg.debianize import patches
from venvpkg.errors import UsageError

NOVA_QUEENS = "py37-async-keyword.patch"


def test_queens_nova_carries_the_async_rename_with_its_reason() -> None:
    (patch,) = patches.chosen("queens", "nova", None)
    assert patch.name == NOVA_QUEENS and patch.origin == "venvpkg's queens patches"
    assert patch.description == "Rename the async names, a keyword since Python 3.7"
    text = patch.text.decode()
    assert "Forwarded: not-needed" in text
    assert "+        if async_:" in text and "-        if async:" in text


def test_other_series_and_projects_carry_none() -> None:
    assert patches.chosen("train", "nova", None) == []
    assert patches.chosen("queens", "keystone", None) == []


def test_a_site_adds_patches_after_the_shipped_ones_and_replaces_by_name(tmp_path: Path) -> None:
    (tmp_path / "0001-ours.patch").write_text("Description: ours\n---\n+x\n")
    names = [p.name for p in patches.chosen("queens", "nova", str(tmp_path))]
    assert names == [NOVA_QUEENS, "0001-ours.patch"]
    (tmp_path / NOVA_QUEENS).write_text("Subject: our own rename\n---\n+y\n")
    chosen = patches.chosen("queens", "nova", str(tmp_path))
    assert [(p.name, p.description) for p in chosen] == [
        ("0001-ours.patch", "ours"),
        (NOVA_QUEENS, "our own rename"),
    ]
    (tmp_path / NOVA_QUEENS).write_text("")  # an empty file of that name drops it
    assert [p.name for p in patches.chosen("queens", "nova", str(tmp_path))] == ["0001-ours.patch"]


def test_a_site_directory_without_patches_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no \*\.patch files in"):
        patches.chosen("queens", "nova", str(tmp_path))


def test_the_series_file_lists_them_in_order(tmp_path: Path) -> None:
    chosen = [patches.Patch("b.patch", b"B", "x"), patches.Patch("a.diff", b"A", "x")]
    patches.add(tmp_path, chosen)
    assert (tmp_path / "patches" / "series").read_text() == "b.patch\na.diff\n"
    assert (tmp_path / "patches" / "a.diff").read_bytes() == b"A"
