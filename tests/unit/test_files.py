"""Atomic writes: whole files only, readable like any file the user creates."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from venvpkg.files import atomic_write, atomic_write_text


def test_written_file_follows_umask_so_apt_can_read_a_keyring(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "keyring.gpg", "key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "keyring.gpg").stat().st_mode) == 0o644


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "out") as stream:
        stream.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_the_old_content_whole(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "f", "old")
    atomic_write_text(tmp_path / "f", "new")
    assert (tmp_path / "f").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
