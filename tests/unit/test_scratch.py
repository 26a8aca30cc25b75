"""The scratch area: a tmpfs when it has room, private directories, and what dead runs left."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from venvpkg.errors import UsageError
from venvpkg.scratch import IN_USE, private_dir, remove_tree, require_passable, scratch_dir, sweep


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


def test_private_dir_is_removed_after_use_even_when_the_tool_fails(tmp_path: Path) -> None:
    with private_dir(str(tmp_path), 0, "lintian") as first:
        assert first.parent == tmp_path and first.name.startswith("venvpkg-lintian-")
        # sbuild's namespace root, a subordinate id, unpacks the chroot in here.
        assert oct(first.stat().st_mode & 0o777) == "0o755"
        (first / "mldbm-elf-x").write_text("left by lintian")
    with pytest.raises(RuntimeError), private_dir(str(tmp_path), 0, "sbuild") as second:
        raise RuntimeError("sbuild failed")
    assert not first.exists() and not second.exists()
    assert list(tmp_path.iterdir()) == []


KILLED = """
import os, signal, sys
from venvpkg.scratch import private_dir
with private_dir(sys.argv[1], 0, "sbuild") as path:
    (path / "chroot.XXXX").mkdir()
    (path / "chroot.XXXX" / "big").write_bytes(bytes(1 << 20))
    print(path, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_next_run_removes_what_a_killed_run_left_but_not_a_live_one(tmp_path: Path) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert (left / "chroot.XXXX" / "big").is_file()
    unrelated = tmp_path / "someone-else"
    unrelated.mkdir()
    # Entering the first directory sweeps; the second stands for another run still working.
    with (
        private_dir(str(tmp_path), 0, "lintian") as live,
        private_dir(str(tmp_path), 0, "sbuild") as busy,
    ):
        assert not left.exists()
        assert sweep(tmp_path) == []
        assert live.is_dir() and busy.is_dir() and unrelated.is_dir()


def test_a_directory_without_its_lock_file_is_left_alone(tmp_path: Path) -> None:
    # A directory a run has just made, before it holds the lock, must not be taken.
    young = tmp_path / "venvpkg-sbuild-young"
    young.mkdir()
    dead = tmp_path / "venvpkg-sbuild-dead"
    dead.mkdir()
    (dead / IN_USE).touch()
    with (dead / IN_USE).open() as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        assert sweep(tmp_path) == []
    assert sweep(tmp_path) == [dead]
    assert young.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="makes files owned by a subordinate id")
def test_files_an_unshare_build_left_to_subordinate_ids_are_removed(tmp_path: Path) -> None:
    tree = tmp_path / "venvpkg-sbuild-x" / "chroot" / "etc"
    tree.mkdir(parents=True)
    (tree / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    for path in (tree.parent, tree, tree / "passwd"):
        os.chown(path, 100000, 100000)
    tree.chmod(0o500)
    remove_tree(tmp_path / "venvpkg-sbuild-x")
    assert not (tmp_path / "venvpkg-sbuild-x").exists()


def test_a_directory_that_could_not_be_emptied_keeps_its_marker_for_a_later_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = tmp_path / "venvpkg-sbuild-stuck"
    (stuck / "chroot").mkdir(parents=True)
    (stuck / IN_USE).touch()
    with monkeypatch.context() as failing:
        failing.setattr("shutil.rmtree", lambda *args, **kwargs: None)
        assert sweep(tmp_path) == [stuck]
        assert (stuck / IN_USE).exists() and (stuck / "chroot").is_dir()
    assert sweep(tmp_path) == [stuck]
    assert not stuck.exists()


def test_a_scratch_place_other_users_cannot_pass_is_refused_naming_the_closed_directory(
    tmp_path: Path,
) -> None:
    closed = tmp_path / "home"
    (closed / "scratch").mkdir(parents=True)
    closed.chmod(0o700)
    with pytest.raises(UsageError) as refused:
        require_passable(closed / "scratch")
    assert f"{closed} is closed to other users (mode 700)" in refused.value.line()
    require_passable(Path("/tmp"))  # sticky and open to all: where sbuild unpacks by default
