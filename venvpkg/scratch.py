"""Where tools unpack chroots and packages, and clearing what killed runs left there.

sbuild unpacks a 600 MB chroot for every build, mmdebstrap installs one before packing it,
and lintian unpacks every package it checks. Each run gets a private directory of its own,
locked while in use: killed tools (and lintian, by habit) leave files behind, and on a tmpfs
those hold memory until a reboot, so the next run removes the directories of dead runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from venvpkg import runner
from venvpkg.errors import UsageError, VenvpkgError

SHM = Path("/dev/shm")
PREFIX = "venvpkg-"
IN_USE = ".in-use"


def scratch_dir(configured: str | None, need: int, mounts: Path = Path("/proc/mounts")) -> Path:
    """Where chroots and packages are unpacked: the configured place, else a tmpfs with room.

    On this kind of disk untarring a chroot takes 15 s, on tmpfs under one. Memory is the
    limit, so a tmpfs without `need` bytes free is passed over for the system's temporary
    directory.
    """
    if configured:
        return Path(configured).expanduser()
    if _is_tmpfs(SHM, mounts) and os.access(SHM, os.W_OK):
        stats = os.statvfs(SHM)
        if stats.f_bavail * stats.f_frsize >= need:
            return SHM
    return Path(tempfile.gettempdir())


def _is_tmpfs(path: Path, mounts: Path) -> bool:
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return False
    return any(
        len(fields) > 2 and fields[1] == str(path) and fields[2] == "tmpfs"
        for fields in (line.split() for line in lines)
    )


def require_passable(path: Path) -> None:
    """Refuse a scratch place that sbuild's and mmdebstrap's namespaces cannot enter.

    Their root is a subordinate id, an "other" user to the host, so every directory above
    the unpacked chroot must let others pass (x); /root and pytest's temporary directories
    do not.
    """
    for directory in [path, *path.parents]:
        if directory.exists() and not directory.stat().st_mode & 0o001:
            mode = oct(directory.stat().st_mode & 0o777)[2:]
            raise UsageError(
                f"scratch directory {path}: {directory} is closed to other users (mode {mode})",
                'choose another with [build] scratch = "/path", or: chmod o+x ' + str(directory),
            )


@contextlib.contextmanager
def private_dir(
    configured: str | None, need: int, purpose: str, mounts: Path = Path("/proc/mounts")
) -> Iterator[Path]:
    """A directory of this run's own in the scratch area, removed with all it holds after."""
    base = scratch_dir(configured, need, mounts)
    base.mkdir(parents=True, exist_ok=True)
    sweep(base)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-", dir=base))
    # mkdtemp makes 0700; inside sbuild's namespace root is a subordinate id that must pass.
    path.chmod(0o755)
    staged = path / f"{IN_USE}.new"
    with staged.open("w") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)
        # Renamed only once locked: a sweep never finds an unlocked marker of a live run.
        staged.rename(path / IN_USE)
        try:
            yield path
        finally:
            remove_tree(path)


def sweep(base: Path) -> list[Path]:
    """Remove our private directories whose run has died (the kernel dropped its lock)."""
    removed = []
    for entry in sorted(base.glob(f"{PREFIX}*")):
        try:
            if entry.is_symlink() or entry.lstat().st_uid != os.geteuid():
                continue
            with (entry / IN_USE).open() as marker:
                fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # not ours, not a private directory, or still in use
            continue
        remove_tree(entry)
        removed.append(entry)
    return removed


def remove_tree(path: Path) -> None:
    """rm -rf, including what an unshare build left owned by subordinate ids.

    The lock marker goes last: a directory that could not be emptied keeps it, so a later
    sweep tries again instead of passing over an unmarked directory forever.
    """
    with contextlib.suppress(OSError):  # gone already, or still not empty: a sweep retries
        for entry in [e for e in path.iterdir() if e.name != IN_USE]:
            _remove(entry)
        if all(e.name == IN_USE for e in path.iterdir()):
            (path / IN_USE).unlink(missing_ok=True)
            path.rmdir()


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            entry.unlink()
    if os.path.lexists(entry) and os.geteuid() != 0:
        # Only a namespace that maps our subordinate ids back may remove those files.
        with contextlib.suppress(VenvpkgError):
            runner.capture(["unshare", "--map-auto", "--map-root-user", "rm", "-rf", entry])
