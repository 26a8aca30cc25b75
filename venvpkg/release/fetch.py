"""The only networked step of a release: each pin's best file for the target, into the store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from venvpkg.errors import NetworkError
from venvpkg.index import NotOnIndex, choose
from venvpkg.release.entries import Context, Entry, Failure, parallel

FETCH_THREADS = 16


def fetch(entries: Iterable[Entry], ctx: Context) -> list[Failure]:
    """Find and download each entry's best file for the target.

    An index that cannot be reached stops the run (what was fetched is kept); a pin the
    index has no usable file for is a failure of that pin only.
    """
    todo = [e for e in entries if e.artifact is None]
    store, target = ctx.workdir.store, ctx.plan.target

    def fetch_one(entry: Entry) -> str:
        artifact = choose(ctx.index.files(entry.name, entry.version), target)
        if artifact is None:
            raise NotOnIndex(f"no wheel for {target.python_tag} and no sdist on the index")
        entry.artifact = artifact
        entry.downloaded = not (artifact.sha256 and store.has(artifact.sha256))
        entry.sha256 = ctx.index.download(artifact, store)
        return artifact.filename

    errors = parallel(todo, max(ctx.jobs, FETCH_THREADS), fetch_one, ctx.display, "fetch")
    unreachable = sorted(str(e.name) for e, error in errors if isinstance(error, NetworkError))
    if unreachable:
        shown = ", ".join(unreachable[:8]) + (
            f" and {len(unreachable) - 8} more" if len(unreachable) > 8 else ""
        )
        raise NetworkError(
            f"cannot reach {ctx.plan.index_url} for {len(unreachable)} pins: {shown}",
            "check the network or --index-url; what was fetched is kept, re-run to continue",
        )
    return [Failure.of(entry, error, ctx.paths.logs / "fetch.log") for entry, error in errors]


def project_sdists(ctx: Context) -> list[Path]:
    """The sdists of the projects the wheelhouse serves: their build requirements count too."""
    found = []
    for project in ctx.plan.projects:
        files = ctx.index.files(project.pypi_name, project.version)
        sdists = [a for a in files if not a.is_wheel]
        if sdists:
            found.append(ctx.workdir.store.path(ctx.index.download(sdists[0], ctx.workdir.store)))
    return found
