"""Files a user may depend on: written atomically, locked, stored by content.

Every write is atomic (a file or directory is either complete or absent), a lock keeps
two runs from writing the same output at once, and the store names fetched files by
their sha256, so a distribution pinned by two series is kept once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[bytes]]:
    """Write `path` via a temporary sibling; the file appears only once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600; a keyring apt's sandboxed _apt user cannot read is useless.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    # Read, not set-and-restore: os.umask is process-wide, and builds write from threads.
    with (
        contextlib.suppress(OSError, StopIteration, ValueError),
        open("/proc/self/status") as status,
    ):
        line = next(line for line in status if line.startswith("Umask:"))
        return int(line.split()[1], 8)
    return _UMASK_AT_START


def _read_umask_once() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# Taken at import, before any thread starts; used where /proc says nothing.
_UMASK_AT_START = _read_umask_once()


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_write(path) as stream:
        stream.write(text.encode("utf-8"))


def remembered(slot: Path | None, compute: Callable[[], Any]) -> Any:
    """`compute()`'s answer, kept as JSON in `slot` and read back from there next time
    (no slot: computed every time). The caller names the slot by everything the answer
    depends on."""
    if slot is not None and slot.is_file():
        return json.loads(slot.read_text())
    answer = compute()
    if slot is not None:
        atomic_write_text(slot, json.dumps(answer))
    return answer


def place(source: Path, destination: Path) -> None:
    """Put `source` at `destination` atomically, as a hard link where the filesystem allows."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    try:
        os.link(source, temporary)
    except OSError:
        with source.open("rb") as reader, atomic_write(temporary) as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                writer.write(block)
    os.replace(temporary, destination)


class Store:
    """Files by sha256 under ROOT/ab/abcdef...."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self) -> tempfile._TemporaryFileWrapper[bytes]:
        """A temporary file inside the store, for streaming a download before verifying it."""
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(dir=self.root, prefix=".partial-", delete=False)

    def commit(self, temporary: Path, sha256: str) -> Path:
        """Move a verified temporary file into place under its digest."""
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
        return target


@contextlib.contextmanager
def exclusive(
    lock_path: Path,
    on_wait: Callable[[str], None] | None = None,
    refuse: Callable[[str], Exception] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock so two runs never write the same output at once.

    Waits for the other run, or raises what `refuse` makes of its name (a daemon that
    would otherwise wait for hours); the kernel drops the lock if that run dies, so a
    killed run never leaves a stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            if refuse:
                raise refuse(holder) from None
            if on_wait:
                on_wait(f"waiting for {holder} to release {lock_path}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"venvpkg pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


# The date of files that have none of their own (a source tree, a wheel built only to be
# read): any fixed date keeps their archives identical from run to run. 2020-01-01.
UNDATED_EPOCH = 1577836800


def replace_dir(new: Path, final: Path) -> None:
    """Swap `new`, built beside `final`, into its place.

    Everything a user may depend on is built beside its final place and renamed in, so a
    run killed half-way leaves the old directory whole and `new` for the re-run to redo.
    """
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
