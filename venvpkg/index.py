"""The package index (PyPI or a mirror): each pin's files, the best one for a target.

Index look-ups are cached per (index, name, version) so a re-run needs no network; files
land in the content-addressed store, verified by sha256. The release stage fetches its
wheelhouse through it, debianize a project's sdist.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from venvpkg.errors import NetworkError, VenvpkgError
from venvpkg.files import Store, atomic_write_text
from venvpkg.targets import Target

if TYPE_CHECKING:
    from pypi_simple import ProjectPage

RETRIES = Retry(total=5, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
TIMEOUT = (15, 120)


class NotOnIndex(VenvpkgError):
    """The index has no usable file for a pin."""


@dataclass(frozen=True)
class Artifact:
    """One distribution file on the index."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str | None
    # PEP 658: the wheel's METADATA served on its own, so resolving needs no download.
    metadata_url: str | None = None

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    def wheel_tags(self) -> frozenset[Tag]:
        return parse_wheel_filename(self.filename)[3] if self.is_wheel else frozenset()


def _parse(filename: str) -> tuple[str, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return name, version


def _runs_on(requires_python: str | None, target: Target) -> bool:
    try:
        return not requires_python or target.python_full in SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True  # a malformed old Requires-Python; pip ignores it too


def choose(files: list[Artifact], target: Target) -> Artifact | None:
    """The best file for `target`: the wheel with the most specific tag, else the sdist."""
    priority = {tag: rank for rank, tag in enumerate(target.wheel_tags)}
    best: tuple[int, Artifact] | None = None
    for artifact in files:
        if not artifact.is_wheel:
            continue
        ranks = [priority[t] for t in artifact.wheel_tags() if t in priority]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), artifact)
    if best:
        return best[1]
    sdists = [a for a in files if not a.is_wheel]
    # .tar.gz is the standard sdist form; .zip only appears on old releases.
    sdists.sort(key=lambda a: (not a.filename.endswith(".tar.gz"), a.filename))
    return sdists[0] if sdists else None


class Index:
    """A PEP 503/691 package index with an on-disk cache of the listings we used."""

    def __init__(self, url: str, cache: Path) -> None:
        self.url = url.rstrip("/") + "/"
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.cache = cache / key
        self._local = threading.local()

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=RETRIES)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def files(self, name: str, version: Version) -> list[Artifact]:
        """Every file of `name` at exactly `version` (cached after the first look-up)."""
        cached = self.cache / f"{canonicalize_name(name)}-{version}.json"
        if cached.is_file():
            return [Artifact(**entry) for entry in json.loads(cached.read_text())]
        found = self._lookup(name, version)
        if found:  # an empty answer may just mean "not uploaded yet": ask again next time
            atomic_write_text(cached, json.dumps([asdict(a) for a in found], indent=1))
        return found

    def _page(self, name: str) -> ProjectPage:
        # Imported on first use: 0.2 s of every command's start (its pydantic models), and
        # a re-run answers from the cache without a page.
        from pypi_simple import NoSuchProjectError, PyPISimple

        client = PyPISimple(self.url, session=self.session())
        try:
            return client.get_project_page(name, timeout=TIMEOUT)
        except NoSuchProjectError:
            raise NotOnIndex(f"{name} is not on {self.url}", "check the name") from None
        except requests.RequestException as error:
            raise NetworkError(f"cannot reach {self.url} for {name}: {_reason(error)}") from None

    def _lookup(self, name: str, version: Version) -> list[Artifact]:
        page = self._page(name)
        found = []
        wanted = canonicalize_name(name)
        for package in page.packages:
            parsed = _parse(package.filename)
            if parsed and parsed[0] == wanted and parsed[1] == version:
                found.append(
                    Artifact(
                        name,
                        str(version),
                        package.filename,
                        package.url,
                        package.digests.get("sha256"),
                        package.metadata_url if package.has_metadata else None,
                    )
                )
        return found

    def versions(self, name: str) -> list[Version]:
        """The final, unyanked versions of `name` on the index now, newest first (never
        cached: a new point release must be seen as soon as it is out)."""
        found = {
            parsed[1]
            for package in self._page(name).packages
            if (parsed := _parse(package.filename)) and not package.is_yanked
        }
        return sorted((v for v in found if not v.is_prerelease), reverse=True)

    def dated(self, name: str, before: str, target: Target) -> list[Version]:
        """Versions of `name` first uploaded before the day `before` (YYYY-MM-DD) that
        have a file for `target`, newest first; cached, since that past does not change."""
        cached = self.cache / "dated" / f"{canonicalize_name(name)}-{before}-{target.name}.json"
        if cached.is_file():
            return [Version(v) for v in json.loads(cached.read_text())]
        found = self._dated(name, before, target)
        atomic_write_text(cached, json.dumps([str(v) for v in found]))
        return found

    def _dated(self, name: str, before: str, target: Target) -> list[Version]:
        page = self._page(name)
        first: dict[Version, str] = {}
        files: dict[Version, list[Artifact]] = {}
        for package in page.packages:
            parsed = _parse(package.filename)
            if not parsed or package.is_yanked or package.upload_time is None:
                continue
            if not _runs_on(package.requires_python, target):
                continue
            version = parsed[1]
            day = package.upload_time.date().isoformat()
            first[version] = min(first.get(version, day), day)
            artifact = Artifact(name, str(version), package.filename, package.url, None)
            files.setdefault(version, []).append(artifact)
        usable = [v for v, day in first.items() if day < before and choose(files[v], target)]
        return sorted((v for v in usable if not v.is_prerelease), reverse=True)

    def core_metadata(self, artifact: Artifact) -> bytes:
        """The PEP 658 metadata file of a wheel."""
        assert artifact.metadata_url is not None
        try:
            response = self.session().get(artifact.metadata_url, timeout=TIMEOUT)
            response.raise_for_status()
        except requests.RequestException as error:
            raise NetworkError(
                f"cannot fetch the metadata of {artifact.filename}: {_reason(error)}"
            ) from None
        return response.content

    def download(self, artifact: Artifact, store: Store) -> str:
        """Fetch `artifact` into `store` unless already there; return its sha256."""
        if artifact.sha256 and store.has(artifact.sha256):
            return artifact.sha256
        digest = hashlib.sha256()
        with store.writer() as stream:
            temporary = Path(stream.name)
            try:
                with self.session().get(artifact.url, stream=True, timeout=TIMEOUT) as response:
                    response.raise_for_status()
                    for block in response.iter_content(1 << 20):
                        digest.update(block)
                        stream.write(block)
            except requests.RequestException as error:
                temporary.unlink(missing_ok=True)
                raise NetworkError(f"cannot fetch {artifact.filename}: {_reason(error)}") from None
        actual = digest.hexdigest()
        if artifact.sha256 and actual != artifact.sha256:
            temporary.unlink(missing_ok=True)
            raise NetworkError(
                f"{artifact.filename}: sha256 {actual[:12]}… does not match the index "
                f"({artifact.sha256[:12]}…)",
                "the download was corrupted or the index changed; re-run",
            )
        store.commit(temporary, actual)
        return actual


def _reason(error: requests.RequestException) -> str:
    text = str(error)
    with contextlib.suppress(Exception):
        text = str(error.args[0].reason) if error.args else text
    return text.splitlines()[0][:200]
