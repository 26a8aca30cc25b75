"""What a debianized tree was made from, so a re-run with the same inputs does nothing.

Debianizing unpacks the sdist, copies the tree, reads a wheel, evaluates bindep and renders
twice only to learn whether anything changed; for six projects that is ~20 s of file system
work on a no-op build. A digest of everything that can change the output lets a re-run skip
all of it and return the recorded result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import asdict, replace
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING

from venvpkg import records
from venvpkg.config import ProjectSettings
from venvpkg.files import sha256_file
from venvpkg.records import ReleaseRecord, SourceRecord

if TYPE_CHECKING:
    from venvpkg.debianize import Request

# Templates live beside the package in a checkout and inside it once installed.
CODE = ("venvpkg", "venvpkg.templates", "venvpkg.requirements_packages")
# Site options that name directories: their contents shape debian/, not just their names.
DIRECTORY_OPTIONS = ("templates", "patches")
# Libraries whose upgrade can change what is rendered (templates, changelog, dependencies).
LIBRARIES = ("jinja2", "python-debian", "bindep", "packaging")


def digest(
    request: Request,
    index_url: str,
    release: ReleaseRecord,
    archive: Path,
    debian_data: Path | None = None,
) -> str:
    """One sha256 over every input of a debianized tree (`debian_data`: the workdir's
    Debian archive extracts, which decide the split as the bundled ones do)."""
    inputs = {
        "project": [request.project, request.pypi_name, str(request.version)],
        "series": request.series.id,
        "target": request.target.name,
        "source": request.source,
        "index": index_url,
        "options": options_digest(request.options),
        "archive": sha256_file(archive),
        "debian_archive": tree_digest(debian_data) if debian_data else "",
        "release": [release.package, release.version, sha256_file(release.lock)],
        "venvpkg": code_digest(),
        "libraries": [metadata.version(name) for name in LIBRARIES],
        "python": list(sys.version_info[:3]),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def options_digest(options: ProjectSettings) -> str:
    """A project's site settings, with the contents of the directories they name."""
    chosen = asdict(options)
    inputs = {
        "options": json.dumps(chosen, sort_keys=True, default=str),
        "directories": {
            k: tree_digest(Path(chosen[k])) for k in DIRECTORY_OPTIONS if chosen.get(k)
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recall(where: Path, wanted: str) -> SourceRecord | None:
    """The recorded result when its inputs match and its files are still as they were."""
    seen = records.read(where, SourceRecord.from_dict)
    if seen is None or seen.inputs != wanted:
        return None
    if not seen.source_dir.is_dir() or not seen.dsc.is_file():
        return None
    return seen if sha256_file(seen.dsc) == seen.dsc_sha256 else None


def remember(where: Path, inputs: str, record: SourceRecord) -> None:
    records.write(where, replace(record, inputs=inputs, dsc_sha256=sha256_file(record.dsc)))


def tree_digest(root: Path) -> str:
    """Paths and contents of every file under `root` (a missing root digests as empty)."""
    found = hashlib.sha256()
    for path in sorted(_files(root)):
        found.update(path.relative_to(root).as_posix().encode() + b"\0")
        found.update(path.read_bytes())
    return found.hexdigest()


@functools.cache
def code_digest() -> str:
    """venvpkg's own code, templates and data: a changed template or rule re-debianizes.

    The version number alone would miss every change made between releases, and a
    development checkout never changes it.
    """
    found = hashlib.sha256()
    for package in CODE:
        found.update(tree_digest(Path(str(resources.files(package)))).encode())
    return found.hexdigest()


def _files(root: Path) -> list[Path]:
    found = []
    # Jinja's loader follows symbolic links into other directories, so the digest does too.
    for directory, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [Path(directory) / name for name in files if not name.endswith(".pyc")]
    return found
