"""Where a project's source comes from: PyPI (the default), a directory, a tarball or git."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from venvpkg import gitspec, runner
from venvpkg.errors import CommandFailed, UsageError
from venvpkg.files import UNDATED_EPOCH, Store
from venvpkg.index import Index

if TYPE_CHECKING:
    from venvpkg.debianize import Request

# Left out of orig tarballs made from a working tree: VCS and build debris.
EXCLUDED = {".git", ".tox", ".venv", "__pycache__", ".eggs", "build", "dist", ".stestr"}
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


@dataclass(frozen=True)
class Source:
    """An upstream archive ready to become the orig tarball."""

    archive: Path
    origin: str


def obtain(request: Request, index: Index, store: Store, scratch: Path, logs: Path) -> Source:
    """The project's source, by the rules of --source (None: the sdist on the index)."""
    spec, pypi_name, version = request.source, request.pypi_name, request.version
    if spec is None:
        return _from_index(pypi_name, version, index, store)
    git = None if Path(spec).exists() else gitspec.parse(spec)
    if git:
        return _from_git(git[0], git[1] or "HEAD", scratch, logs / "git.log")
    path = Path(spec)
    if path.is_dir():
        if not any((path / name).is_file() for name in PROJECT_FILES):
            raise UsageError(
                f"--source {spec} is not a Python project (no {', '.join(PROJECT_FILES)})",
                "give the top directory of the project's checkout",
            )
        return Source(tar_tree(path, scratch / f"{pypi_name}-{version}.tar.gz"), str(path))
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".zip")):
        if not (tarfile.is_tarfile(path) or zipfile.is_zipfile(path)):
            raise UsageError(
                f"--source {spec} is not a tar or zip archive", "give the project's sdist"
            )
        return Source(path.absolute(), str(path))
    raise UsageError(
        f"--source {spec}: not a directory, a .tar.gz/.zip file or a git URL",
        "give DIR, TARBALL or GIT-URL@REF",
    )


def _from_index(pypi_name: str, version: Version, index: Index, store: Store) -> Source:
    sdists = [a for a in index.files(pypi_name, version) if not a.is_wheel]
    if not sdists:
        raise UsageError(
            f"{pypi_name} {version} has no sdist on {index.url}",
            "check --version, or give --source",
        )
    sdists.sort(key=lambda a: not a.filename.endswith(".tar.gz"))
    digest = index.download(sdists[0], store)
    named = store.path(digest).parent / sdists[0].filename
    if not named.exists():
        os.link(store.path(digest), named)
    return Source(named, f"{index.url} {sdists[0].filename}")


def _from_git(url: str, ref: str, scratch: Path, log: Path) -> Source:
    clone = Path(tempfile.mkdtemp(prefix="git-", dir=scratch))
    try:
        runner.run(["git", "clone", "--quiet", "--no-checkout", url, clone], log=log)
        runner.run(["git", "-C", clone, "checkout", "--quiet", ref], log=log)
    except CommandFailed as error:
        shutil.rmtree(clone, ignore_errors=True)
        raise UsageError(
            f"cannot read --source {url}@{ref}: {gitspec.clone_failure(error)}", f"see {log}"
        ) from None
    commit = runner.capture(["git", "-C", clone, "rev-parse", "HEAD"]).strip()
    shutil.rmtree(clone / ".git")
    archive = tar_tree(clone, scratch / f"git-{commit[:12]}.tar.gz")
    shutil.rmtree(clone, ignore_errors=True)
    return Source(archive, f"{url}@{ref} ({commit[:12]})")


def tar_tree(tree: Path, output: Path) -> Path:
    """A reproducible tar.gz of a working tree under one top directory."""
    top = output.name.removesuffix(".tar.gz")
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(_tree_files(tree)):
            info = archive.gettarinfo(str(path), f"{top}/{path.relative_to(tree).as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = UNDATED_EPOCH, 0, 0, "", ""
            if info.isreg():
                with path.open("rb") as stream:
                    archive.addfile(info, stream)
            else:
                archive.addfile(info)
    with gzip.GzipFile(output, "wb", mtime=0) as stream:
        stream.write(buffer.getvalue())
    return output


def _tree_files(tree: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED and not d.endswith(".egg-info"))
        found += [Path(root) / name for name in files if not name.endswith(".pyc")]
    return found


def unpack(archive: Path, destination: Path, log: Path) -> None:
    """Extract an sdist or tarball without its top directory."""
    destination.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(destination)
    else:
        runner.run(["tar", "-xf", archive, "-C", destination], log=log)
    entries = list(destination.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        top = entries[0]
        for child in top.iterdir():
            child.rename(destination / child.name)
        top.rmdir()
