"""Which PyPI project is an OpenStack deliverable: the one whose metadata names its repository.

A deliverable's PyPI name often differs from its own (python-watcher, openstack-placement)
while strangers hold the plain names: PyPI's `watcher`, `adjutant` and `venus` are
unrelated projects. Building one of those would ship someone else's code under
OpenStack's name, so a candidate counts only when its own metadata (Home-page,
Project-URL) points at the deliverable's repository or its documentation, or names
OpenStack's mailing list as its author. The few deliverables whose metadata says none
of these are listed in projects.VERIFIED_NAMES, each with how it was checked.
"""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from venvpkg.errors import UsageError
from venvpkg.files import Store, atomic_write_text
from venvpkg.index import Artifact, Index, NotOnIndex
from venvpkg.projects import VERIFIED_NAMES, ProjectPin

# Where OpenStack's repositories live, and have lived; docs.openstack.org/NAME is theirs too.
CODE_HOSTS = ("opendev.org", "git.openstack.org", "review.opendev.org", "github.com")
DOCS_HOST = "docs.openstack.org"
LISTS = re.compile(r"@lists\.openstack\.org\b", re.I)


def candidates(pin: ProjectPin) -> list[str]:
    """PyPI names to try, in order: OpenStack publishes under these three patterns."""
    names = [pin.pypi_name, pin.name, f"python-{pin.name}", f"openstack-{pin.name}"]
    return list(dict.fromkeys(canonicalize_name(n) for n in names))


def names_repository(metadata: Message, repos: tuple[str, ...]) -> bool:
    """Whether a distribution's metadata points at one of `repos` (openstack/watcher)."""
    urls = [metadata.get("Home-page", ""), metadata.get("Download-URL", "")]
    urls += [value.partition(",")[2] for value in metadata.get_all("Project-URL") or []]
    for url in urls:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        path = parts.path.strip("/").lower().removesuffix(".git")
        for repo in repos:
            repo = repo.lower()
            if host in CODE_HOSTS and (path == repo or path.startswith(repo + "/")):
                return True
            # docs.openstack.org/NAME, or /developer/NAME before Pike.
            if host == DOCS_HOST and repo.rpartition("/")[2] in path.split("/")[:2]:
                return True
    return False


def published_by_openstack(metadata: Message, repos: tuple[str, ...]) -> bool:
    """The repository named, or OpenStack's mailing list as author (what pbr writes for
    every OpenStack project; metadata of older releases names only www.openstack.org)."""
    if names_repository(metadata, repos):
        return True
    authors = f"{metadata.get('Author-email', '')} {metadata.get('Maintainer-email', '')}"
    return bool(LISTS.search(authors))


def verified(pin: ProjectPin, index: Index, store: Store, cache: Path) -> ProjectPin:
    """`pin` under the PyPI name whose metadata names the deliverable's repository.

    A pin without a repository (a site's own NAME==VERSION) is the operator's choice and
    is taken as given; so is a name in the verified table. The answer is cached per
    deliverable, version and index.
    """
    if not pin.repos:
        return pin
    if pin.name in VERIFIED_NAMES:
        return replace(pin, pypi_name=VERIFIED_NAMES[pin.name])
    remembered = cache / f"{pin.name}-{pin.version}.json"
    if remembered.is_file():
        return replace(pin, pypi_name=json.loads(remembered.read_text())["pypi_name"])
    refused = []
    for name in candidates(pin):
        try:
            files = index.files(name, pin.version)
        except NotOnIndex:
            continue
        if not files:
            continue
        metadata = _metadata(files, index, store)
        if metadata is not None and published_by_openstack(metadata, pin.repos):
            atomic_write_text(remembered, json.dumps({"pypi_name": name, "index": index.url}))
            return replace(pin, pypi_name=name)
        home = _home(metadata)
        refused.append(f"{name} ({home})" if home else f"{name} (names no home page)")
    where = " or ".join(f"opendev.org/{r}" for r in pin.repos[:2])
    if refused:
        raise UsageError(
            f"no PyPI project for {pin.name} {pin.version} names its repository {where}; "
            f"refused look-alikes: {', '.join(refused)}",
            "give the source with --source GIT-URL@REF, or report the missing metadata",
        )
    raise UsageError(
        f"{pin.name} {pin.version} is not on {index.url} as any of {', '.join(candidates(pin))}",
        "check the version (openstack/releases lists each series' releases)",
    )


def newest_release(pin: ProjectPin, index: Index, line: tuple[int, ...]) -> ProjectPin:
    """The series' newest release on the index, not only the newest the data knows: the
    newest final version in the series' version line (projects.version_line), since a
    point release is how a security fix reaches operators. NAME==VERSION stays."""
    if pin.requested or not pin.repos:
        return pin
    try:
        found = index.versions(pin.pypi_name)
    except NotOnIndex:
        return pin
    newer = [v for v in found if v.release[: len(line)] == line and v > pin.version]
    return replace(pin, version=newer[0]) if newer else pin


def _metadata(files: list[Artifact], index: Index, store: Store) -> Message | None:
    """Core metadata without building anything: PEP 658 where served, else read from the
    sdist's PKG-INFO or the wheel's METADATA."""
    parser = BytesParser()
    served = [a for a in files if a.is_wheel and a.metadata_url]
    if served:
        return parser.parsebytes(index.core_metadata(served[0]))
    for artifact in sorted(files, key=lambda a: a.is_wheel):
        path = store.path(index.download(artifact, store))
        raw = _wheel_metadata(path) if artifact.is_wheel else _sdist_metadata(path)
        if raw is not None:
            return parser.parsebytes(raw)
    return None


def _sdist_metadata(path: Path) -> bytes | None:
    try:
        with tarfile.open(path) as archive:
            member = next(
                (
                    m
                    for m in archive.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
                ),
                None,
            )
            stream = archive.extractfile(member) if member else None
            return stream.read() if stream else None
    except tarfile.TarError:
        return _zip_member(path, lambda n: n.count("/") == 1 and n.endswith("/PKG-INFO"))


def _wheel_metadata(path: Path) -> bytes | None:
    return _zip_member(path, lambda n: n.count("/") == 1 and n.endswith(".dist-info/METADATA"))


def _zip_member(path: Path, wanted: Callable[[str], bool]) -> bytes | None:
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if wanted(n)), None)
            return archive.read(name) if name else None
    except zipfile.BadZipFile:
        return None


def _home(metadata: Message | None) -> str:
    if metadata is None:
        return ""
    urls = [v.partition(",")[2].strip() for v in metadata.get_all("Project-URL") or []]
    return (metadata.get("Home-page") or "").strip() or (urls[0] if urls else "")
