"""The distributions of a wheelhouse as a run handles them, and what every step shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from packaging.utils import NormalizedName
from packaging.version import Version

from venvpkg.errors import VenvpkgError
from venvpkg.index import Artifact, Index, NotOnIndex
from venvpkg.places import HOST, Place
from venvpkg.progress import Display
from venvpkg.release.plan import ReleasePlan
from venvpkg.workdir import ReleasePaths, Workdir

T = TypeVar("T")


@dataclass
class Entry:
    """One distribution in the wheelhouse, and how this run got it."""

    name: NormalizedName
    version: Version
    artifact: Artifact | None = None
    sha256: str = ""
    wheel: Path | None = None
    # The wheel's digest where it came from: the index's, or recorded when built here.
    wheel_sha256: str = ""
    downloaded: bool = False
    built: bool = False
    build_dependency: bool = False


@dataclass(frozen=True)
class Failure:
    """A pin that could not be fetched or built, with its one-line cause and log."""

    name: str
    version: str
    cause: str
    log: str
    # The wheelhouse's distributions that require it, once known.
    needed_by: tuple[str, ...] = ()
    # The index has nothing for it on the target (trollius 2.1 is gone, python-nss has no
    # sdist): no fix can come from here, so it is reported but does not fail the run.
    unavailable: bool = False

    def line(self) -> str:
        """One line: the pin, its cause, and who needs it."""
        users = ", ".join(self.needed_by) if self.needed_by else "nothing in the wheelhouse"
        return f"{self.name}=={self.version}: {self.cause} (needed by {users})"

    @classmethod
    def of(cls, entry: Entry, error: VenvpkgError, log: Path) -> Failure:
        where = getattr(error, "log", None) or log
        unavailable = isinstance(error, NotOnIndex)
        return cls(str(entry.name), str(entry.version), error.message, str(where), (), unavailable)


@dataclass(frozen=True)
class Context:
    """What the steps of one release run share."""

    plan: ReleasePlan
    workdir: Workdir
    paths: ReleasePaths
    index: Index
    jobs: int
    display: Display
    # Where the sdists compile: this host, or the target's root.
    place: Place = HOST


def parallel(
    items: Iterable[T], jobs: int, work: Callable[[T], str], display: Display, title: str
) -> list[tuple[T, VenvpkgError]]:
    """Run `work` over `items` on `jobs` threads; collect the errors instead of stopping."""
    pending = list(items)
    errors: list[tuple[T, VenvpkgError]] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        with display.stage(title, len(pending)):
            futures = {pool.submit(work, item): item for item in pending}
            for future in as_completed(futures):
                item = futures[future]
                try:
                    display.advance(future.result())
                except VenvpkgError as error:
                    errors.append((item, error))
                    display.advance(f"{item}: {error.message}")
    finally:
        # Interrupted, what is still queued must not start.
        pool.shutdown(wait=True, cancel_futures=True)
    return errors
