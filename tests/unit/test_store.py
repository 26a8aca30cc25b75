"""Atomic writes: whole files only, readable like any file the user creates."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from venvpkg.store import atomic_write, atomic_write_text, scratch_dir


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


def _mounts(tmp_path: Path, kind: str) -> Path:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nnone /dev/shm {kind} rw 0 0\n")
    return mounts


def test_scratch_is_the_configured_directory_when_there_is_one(tmp_path: Path) -> None:
    assert scratch_dir(str(tmp_path / "fast"), need=0, mounts=_mounts(tmp_path, "tmpfs")) == (
        tmp_path / "fast"
    )


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no writable /dev/shm")
def test_scratch_is_a_tmpfs_only_while_it_has_room(tmp_path: Path) -> None:
    mounts = _mounts(tmp_path, "tmpfs")
    assert scratch_dir(None, need=0, mounts=mounts) == Path("/dev/shm")
    # More than any machine's memory: unpacking there would fail half-way, so use disk.
    assert scratch_dir(None, need=1 << 60, mounts=mounts) == Path(tempfile.gettempdir())


def test_scratch_is_never_a_shm_that_is_not_tmpfs(tmp_path: Path) -> None:
    mounts = _mounts(tmp_path, "ext4")
    assert scratch_dir(None, need=0, mounts=mounts) == Path(tempfile.gettempdir())
