"""Stage 0: fresh data. `venvpkg update` fetches openstack/releases (series, status,
deliverables, versions) and each series' openstack/requirements ref from git (opendev by
default, a mirror from venvpkg.toml's [data]) into WORKDIR/data/current, where it wins
over the copy bundled with venvpkg; the bundled copy stays the offline fallback.

Only the newest commit of each ref is fetched (git fetch --depth 1), so a refresh costs
one small download per ref, not the repositories' history. The new data is written
beside the old and swapped in whole: an interrupted or failed update keeps the old.
"""

from __future__ import annotations

import csv
import io
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.version import Version

from venvpkg import runner, series
from venvpkg.config import Settings
from venvpkg.errors import CommandFailed, DataError, NetworkError
from venvpkg.files import atomic_write_text, exclusive, replace_dir
from venvpkg.metadata import is_version
from venvpkg.progress import Display

REQUIREMENTS_FILES = (
    "upper-constraints.txt",
    "global-requirements.txt",
    "bindep.txt",
    "denylist.txt",
    "blacklist.txt",
    "build-constraints.txt",
)
# How update lays out what it writes; a new layout rewrites data that has not moved.
DATA_FORMAT = 1
TSV_COLUMNS = (
    "series",
    "deliverable",
    "type",
    "release_model",
    "latest_version",
    "latest_release",
    "repos",
)


@dataclass
class UpdateResult:
    """What an update fetched: the releases commit and each series' requirements ref."""

    releases_commit: str = ""
    releases_date: str = ""
    # series id -> (ref, commit, commit date)
    requirements: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # series without any requirements ref upstream: the bundled copy stays theirs.
    missing: list[str] = field(default_factory=list)


def update(settings: Settings, display: Display) -> UpdateResult:
    """Fetch both repositories and swap the new data in; the old stays on any failure."""
    root = settings.paths.data
    with exclusive(settings.paths.lock("update"), display.info):
        result = UpdateResult()
        releases = _fetch(settings.data.releases, root / "git" / "releases.git", ["HEAD"])
        commit, result.releases_date = _head(releases, "FETCH_HEAD")
        result.releases_commit = commit
        staging, current = root / ".staging", root / "current"
        shutil.rmtree(staging, ignore_errors=True)  # what an interrupted update left
        # What an older venvpkg wrote may lack what this one reads: written anew.
        same_format = _format(current) == DATA_FORMAT
        had = _commits(current) if same_format else {}
        releases_out = staging / "openstack-releases"
        if had.get("releases") == commit:
            # Reading every deliverable file again is most of an update (7 s).
            shutil.copytree(current / "openstack-releases", releases_out)
        else:
            _write_releases(releases, commit, result.releases_date, releases_out)
        catalog = _catalog(releases_out / "series_status.yaml")
        refs = _requirements_refs(settings.data.requirements, catalog)
        requirements = _fetch(
            settings.data.requirements,
            root / "git" / "requirements.git",
            sorted(set(refs.values())),
        )
        for number, ref in refs.items():
            commit, date = _head(requirements, _local(ref))
            out = staging / "openstack-requirements" / number
            if had.get(number) == commit:
                shutil.copytree(current / "openstack-requirements" / number, out)
            else:
                _write_requirements(requirements, commit, out)
            result.requirements[number] = (ref, commit, date)
        result.missing = [n for n in catalog if n not in refs]
        atomic_write_text(staging / "openstack-requirements" / "SOURCES", _sources(result))
        atomic_write_text(staging / "FORMAT", f"{DATA_FORMAT}\n")
        if same_format and _stamps(staging) == _stamps(current):
            shutil.rmtree(staging)  # nothing moved upstream: the data in use stays as it is
        else:
            replace_dir(staging, current)
    return result


def _format(data: Path) -> int:
    try:
        return int((data / "FORMAT").read_text())
    except (OSError, ValueError):
        return 0


def _stamps(data: Path) -> tuple[str, str]:
    """The SOURCE and SOURCES lines: ref, commit and date of everything in `data`."""
    files = (data / "openstack-releases" / "SOURCE", data / "openstack-requirements" / "SOURCES")
    texts = [f.read_text() if f.is_file() else "" for f in files]
    return texts[0], texts[1]


def _commits(data: Path) -> dict[str, str]:
    """The commit of the releases data ("releases") and of each series' requirements in a
    data directory `update` wrote; empty when there is none."""
    found = {}
    source = data / "openstack-releases" / "SOURCE"
    if source.is_file():
        found["releases"] = source.read_text().split()[2]
    sources = data / "openstack-requirements" / "SOURCES"
    for line in sources.read_text().splitlines() if sources.is_file() else []:
        if line.strip() and not line.startswith("#"):
            number, _ref, commit = line.split()[:3]
            found[number] = commit
    return found


def _fetch(url: str, repository: Path, refs: list[str]) -> Path:
    """The newest commit of each ref of `url`, into a bare repository kept for next time."""
    if not (repository / "HEAD").is_file():
        runner.capture(["git", "init", "--quiet", "--bare", repository])
    wanted = [f"+{ref}:{_local(ref)}" if ref != "HEAD" else "HEAD" for ref in refs]
    try:
        runner.capture(["git", "-C", repository, "fetch", "--quiet", "--depth", "1", url, *wanted])
    except CommandFailed as error:
        raise NetworkError(
            f"cannot fetch {url}: {error.line()}",
            "check the URL (venvpkg.toml [data]) and the network; the data in use is kept",
        ) from None
    return repository


def _local(ref: str) -> str:
    """Where a fetched ref is kept: tags as tags, branches under refs/remotes/data/."""
    if ref.startswith("refs/tags/"):
        return ref
    return "refs/remotes/data/" + ref.removeprefix("refs/heads/")


def _head(repository: Path, ref: str) -> tuple[str, str]:
    line = runner.capture(["git", "-C", repository, "log", "-1", "--format=%H %cs", ref])
    commit, date = line.split()
    return commit, date


def _tree(repository: Path, commit: str, *paths: str) -> dict[str, bytes]:
    """Files under `paths` at `commit`, read in one `git archive` rather than one process
    per file (openstack/releases has thousands of deliverable files)."""
    archive = runner.capture_bytes(["git", "-C", repository, "archive", commit, *paths])
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                stream = tar.extractfile(member)
                assert stream is not None
                files[member.name] = stream.read()
    return files


def _write_releases(repository: Path, commit: str, date: str, destination: Path) -> None:
    files = _tree(repository, commit, "data/series_status.yaml", "deliverables")
    status = files.get("data/series_status.yaml")
    if status is None:
        raise DataError(
            f"openstack/releases {commit[:10]} has no data/series_status.yaml",
            "check the [data] releases URL: it must be a copy of openstack/releases",
        )
    codenames = [entry["name"] for entry in _entries(status)]
    codenames = codenames[: codenames.index("queens") + 1] if "queens" in codenames else codenames
    atomic_write_text(destination / "series_status.yaml", status.decode())
    atomic_write_text(destination / "deliverables.tsv", deliverables_tsv(files, codenames))
    atomic_write_text(destination / "SOURCE", f"openstack/releases HEAD {commit} {date}\n")


def deliverables_tsv(files: dict[str, bytes], codenames: list[str]) -> str:
    """One row per deliverable and series from queens on: its type, release model, newest
    version (an -eol tag too) and newest numbered release, and its repositories."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(TSV_COLUMNS)
    order = {name: at for at, name in enumerate(reversed(codenames))}  # oldest first
    found = []
    for path in files:
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "deliverables" and parts[1] in order:
            name, yaml_file = parts[2].removesuffix(".yaml"), parts[2].endswith(".yaml")
            if yaml_file:
                found.append((order[parts[1]], name, path))
    for _at, name, path in sorted(found):
        writer.writerow(_row(path.split("/")[1], name, _parse(path, files[path])))
    return out.getvalue()


def _row(codename: str, name: str, document: dict[str, Any]) -> list[str]:
    versions = [str(r.get("version", "")) for r in document.get("releases") or []]
    numbered = sorted((v for v in versions if is_version(v)), key=Version)
    repos = list(document.get("repository-settings") or {})
    return [
        codename,
        name,
        str(document.get("type", "")),
        str(document.get("release-model", "")),
        versions[-1] if versions else "",
        numbered[-1] if numbered else "",
        ",".join(repos),
    ]


def _parse(path: str, text: bytes) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        reason = str(error).splitlines()[0]
        raise DataError(
            f"openstack/releases: {path} is not valid YAML ({reason})",
            "the data in use is kept; fix the file upstream or point [data] releases elsewhere",
        ) from None
    if not isinstance(document, (dict, list)):
        raise DataError(
            f"openstack/releases: {path} holds no YAML mapping",
            "the data in use is kept; fix the file upstream or point [data] releases elsewhere",
        )
    return document if isinstance(document, dict) else {"entries": document}


def _entries(status: bytes) -> list[dict[str, Any]]:
    """series_status.yaml's series, newest first, each with at least its name."""
    entries = _parse("data/series_status.yaml", status).get("entries")
    if not entries or not all(isinstance(e, dict) and "name" in e for e in entries):
        raise DataError(
            "openstack/releases: data/series_status.yaml is not a list of series",
            "the data in use is kept; fix the file upstream or point [data] releases elsewhere",
        )
    return list(entries)


def _catalog(status: Path) -> dict[str, str]:
    """Series id (2025.2, or queens before numbers) -> status, from queens on, oldest
    first; a future series has no requirements branch yet and is left out."""
    entries = _entries(status.read_bytes())
    found = {}
    for entry in reversed(entries):
        number = str(entry["release-id"]) if "release-id" in entry else entry["name"]
        if entry.get("status") != "future":
            found[number] = str(entry.get("status", ""))
    names = list(found)
    oldest = names.index("queens") if "queens" in names else 0
    return {name: found[name] for name in names[oldest:]}


def _requirements_refs(url: str, catalog: dict[str, str]) -> dict[str, str]:
    """Each series' ref as venvpkg's bundled data chose it: the -eol tag of a closed series,
    else its unmaintained/ or stable/ branch, and master for the one in development."""
    try:
        listing = runner.capture(["git", "ls-remote", url])
    except CommandFailed as error:
        raise NetworkError(
            f"cannot list {url}: {error.line()}",
            "check the URL (venvpkg.toml [data]) and the network; the data in use is kept",
        ) from None
    refs = {line.split("\t")[1] for line in listing.splitlines() if "\t" in line}
    chosen = {}
    for number in catalog:
        for ref in (
            f"refs/tags/{number}-eol",
            f"refs/heads/unmaintained/{number}",
            f"refs/heads/stable/{number}",
        ):
            if ref in refs:
                chosen[number] = ref
                break
    development = [n for n, status in catalog.items() if status == "development"]
    if development and development[-1] not in chosen and "refs/heads/master" in refs:
        chosen[development[-1]] = "refs/heads/master"
    return chosen


def _write_requirements(repository: Path, commit: str, destination: Path) -> None:
    listed = runner.capture(["git", "-C", repository, "ls-tree", "--name-only", commit])
    present = [name for name in REQUIREMENTS_FILES if name in listed.split()]
    for path, data in _tree(repository, commit, *present).items():
        atomic_write_text(destination / path, data.decode())


def short(ref: str) -> str:
    """stable/2025.2 or queens-eol, as SOURCES and users name refs."""
    return ref.removeprefix("refs/tags/").removeprefix("refs/heads/")


def _sources(result: UpdateResult) -> str:
    lines = ["# series ref commit commit-date (openstack/requirements; Apache-2.0)"]
    for number, (ref, commit, date) in result.requirements.items():
        lines.append(f"{number} {short(ref)} {commit} {date}")
    return "\n".join(lines) + "\n"


def data_root(settings: Settings) -> Path | None:
    """WORKDIR/data/current once `venvpkg update` made it."""
    current = settings.paths.data / "current"
    return current if (current / "openstack-releases" / "SOURCE").is_file() else None


def use(settings: Settings) -> None:
    """Decide from the workdir's data when an update made it, else from the bundled."""
    series.use_data(data_root(settings))
