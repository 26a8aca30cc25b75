"""Debian's own split of OpenStack projects, read from the Debian archive.

Which binary packages a source builds (the Packages index), and which /usr/bin tools,
systemd units (with what each runs) and /etc files each holds (the packages
themselves), for the sources of OpenStack's service deliverables. Read from the mirror
as apt reads it: InRelease checked against the Debian archive keyring, Packages fetched
by the SHA256 it gives, each .deb checked against Packages. Kept as a small extract in
the workdir, and bundled per dist in venvpkg/data/debian-archive/ so that debianize
works offline; the workdir's copy wins over the bundled one.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import requests
from debian import deb822, debfile

from venvpkg.errors import DataError, NetworkError, ToolMissing
from venvpkg.files import atomic_write_text

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
PACKAGES = "main/binary-amd64/Packages.xz"  # lists Architecture: all packages too
# What a split is made of: tools, units, config (paths as in the .deb, without "./").
KEPT = re.compile(r"^(?:usr/s?bin/[^/]+|(?:usr/)?lib/systemd/system/[^/]+\.service|etc/.+)$")
# Newest first: a dist lacking a project borrows the split of the newest that has it.
DISTS = ("trixie", "bookworm")
TIMEOUT = (15, 300)
INIT_WRAPPER = re.compile(r"^/etc/init\.d/(\S+) systemd-start$")


@dataclass(frozen=True)
class Binary:
    """One binary package of Debian's: its tools, units and /etc files."""

    name: str
    tools: tuple[str, ...] = ()
    # unit -> what it runs: {"exec", "args"} (ceilometer-agent-central runs
    # ceilometer-polling), {"uwsgi", "port", "wsgi_app"}, or {"alias": another unit}.
    units: tuple[tuple[str, dict[str, Any]], ...] = ()
    etc: tuple[str, ...] = ()


@dataclass(frozen=True)
class DebianSource:
    name: str
    version: str
    dist: str
    binaries: tuple[Binary, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.binaries)


@dataclass(frozen=True)
class Archive:
    dist: str
    # The Release file's Date, and where this copy came from (bundled or the workdir).
    date: str
    origin: str
    sources: dict[str, DebianSource]


def is_openstacks(source: str, binaries: Iterable[str]) -> bool:
    """Debian's `trove` is a Java library, not OpenStack's trove: a source counts as a
    deliverable's only if it builds its Python module package."""
    return bool({f"python3-{source}", f"python3-django-{source}"} & set(binaries))


def load(dist: str, cache_dir: Path) -> Archive:
    """The workdir's extract for `dist`, else the bundled one."""
    local = cache_dir / f"{dist}.json"
    if local.is_file():
        return _parse(json.loads(local.read_text()), f"{local}")
    bundled = _bundled(dist)
    if bundled is None:
        raise DataError(
            f"no Debian archive data for {dist}: neither {local} nor a bundled copy",
            f"run: venvpkg chroot update {dist} (reads the mirror)",
        )
    return bundled


def source(project: str, dist: str, cache_dir: Path) -> DebianSource | None:
    """Debian's source of `project` in `dist`, else in the newest dist that has it."""
    order = [dist] + [d for d in DISTS if d != dist]
    for candidate in order:
        try:
            found = load(candidate, cache_dir).sources.get(project)
        except DataError:
            continue
        if found is not None:
            return found
    return None


@cache
def _bundled(dist: str) -> Archive | None:
    path = resources.files("venvpkg").joinpath("data", "debian-archive", f"{dist}.json")
    if not path.is_file():
        return None
    return _parse(json.loads(path.read_text()), f"bundled {dist} archive data")


def _parse(data: dict[str, Any], origin: str) -> Archive:
    sources = {
        name: DebianSource(
            name,
            entry["version"],
            data["dist"],
            tuple(
                Binary(b, tuple(f["tools"]), tuple(f["units"].items()), tuple(f["etc"]))
                for b, f in sorted(entry["binaries"].items())
            ),
        )
        for name, entry in data["sources"].items()
    }
    return Archive(data["dist"], data["date"], origin, sources)


def refresh(
    dist: str, mirror: str, cache_dir: Path, wanted: Iterable[str], keyring: Path = KEYRING
) -> Path:
    """Read `dist` from `mirror` and write the extract for the `wanted` sources."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    session = requests.Session()
    base = f"{mirror.rstrip('/')}/dists/{dist}"
    release = _verified_release(session, base, dist, keyring)
    digests = _sha256_of(release)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as scratch:
        packages = _fetch_by_hash(session, base, PACKAGES, digests, Path(scratch))
        with lzma.open(packages) as stream:
            sources = _sources(stream, set(wanted))
        debs = [d for entry in sources.values() for d in entry["binaries"].values()]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda deb: _read_deb(session, mirror, deb, Path(scratch)), debs))
    data = {
        "dist": dist,
        "date": release.get("Date", ""),
        "mirror": mirror,
        "packages_sha256": digests[PACKAGES],
        "sources": {s: _extract(entry) for s, entry in sorted(sources.items())},
    }
    target = cache_dir / f"{dist}.json"
    atomic_write_text(target, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return target


def _verified_release(
    session: requests.Session, base: str, dist: str, keyring: Path
) -> deb822.Release:
    """InRelease, its signature checked by gpgv against the Debian archive keyring."""
    if not keyring.is_file():
        raise ToolMissing(f"{keyring} is missing", "apt-get install debian-archive-keyring")
    signed = _get(session, f"{base}/InRelease")
    checked = subprocess.run(
        ["gpgv", "--keyring", str(keyring), "--output", "-", "-"],
        input=signed,
        capture_output=True,
        check=False,
    )
    if checked.returncode != 0:
        raise DataError(
            f"{base}/InRelease: the signature does not check against {keyring}",
            "the mirror serves something Debian did not sign; use another mirror",
        )
    release = deb822.Release(checked.stdout)
    if release.get("Codename") != dist:
        raise DataError(f"{base}/InRelease is for {release.get('Codename')!r}, not {dist}")
    return release


def _sha256_of(release: deb822.Release) -> dict[str, str]:
    return {entry["name"]: entry["sha256"] for entry in release.get("SHA256", [])}


def _fetch_by_hash(
    session: requests.Session, base: str, name: str, digests: dict[str, str], scratch: Path
) -> Path:
    """The index as InRelease names it; by hash, so that a mirror half-way through an
    update still serves the file this InRelease describes."""
    digest = digests.get(name)
    if digest is None:
        raise DataError(f"{base}/InRelease lists no {name}", "use a full Debian mirror")
    directory = name.rpartition("/")[0]
    path = scratch / name.replace("/", "_")
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for block in _stream(session, f"{base}/{directory}/by-hash/SHA256/{digest}"):
            hasher.update(block)
            out.write(block)
    if hasher.hexdigest() != digest:
        raise NetworkError(f"{base}/{name}: sha256 does not match InRelease", "retry")
    return path


def _get(session: requests.Session, url: str) -> bytes:
    return b"".join(_stream(session, url))


def _stream(session: requests.Session, url: str) -> Iterator[bytes]:
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            yield from response.iter_content(1 << 20)
    except requests.RequestException as error:
        raise NetworkError(f"cannot fetch {url}: {error}", "check the mirror and retry") from None


def _sources(stream: IO[bytes], wanted: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for paragraph in deb822.Packages.iter_paragraphs(stream, use_apt_pkg=False):
        name = paragraph.get("Source", paragraph["Package"]).split()[0]
        if name not in wanted:
            continue
        entry = found.setdefault(name, {"version": "", "binaries": {}})
        # Source: NAME (VERSION) when it differs from the binary's version (binNMUs).
        given = re.search(r"\((.+)\)", paragraph.get("Source", ""))
        entry["version"] = given.group(1) if given else paragraph["Version"]
        entry["binaries"][paragraph["Package"]] = {
            "name": paragraph["Package"],
            "filename": paragraph["Filename"],
            "sha256": paragraph["SHA256"],
            "tools": [],
            "units": {},
            "etc": [],
        }
    return {s: e for s, e in found.items() if is_openstacks(s, e["binaries"])}


def _read_deb(session: requests.Session, mirror: str, deb: dict[str, Any], scratch: Path) -> None:
    """The package's own file list (and each unit's ExecStart), from the .deb itself:
    the mirror's Contents indexes can lag behind its InRelease. Documentation packages
    hold neither tools nor units nor config."""
    if deb["name"].endswith("-doc"):
        return
    path = scratch / deb["filename"].rpartition("/")[2]
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        for block in _stream(session, f"{mirror.rstrip('/')}/{deb['filename']}"):
            hasher.update(block)
            out.write(block)
    if hasher.hexdigest() != deb["sha256"]:
        raise NetworkError(f"{deb['filename']}: sha256 does not match Packages", "retry")
    package = debfile.DebFile(str(path))
    inits: dict[str, dict[str, Any]] = {}
    try:
        data = package.data.tgz()
        for member in data.getmembers():
            name = member.name.removeprefix("./")
            if not KEPT.match(name) or member.isdir():
                continue
            if name.startswith("etc/init.d/") and member.isfile():
                inits[name.rpartition("/")[2]] = _init_daemon(data, member)
            if name.startswith("etc/"):
                deb["etc"].append(f"/{name}")
            elif "/systemd/" in name:
                deb["units"][name.rpartition("/")[2]] = _exec_start(data, member)
            else:
                deb["tools"].append(name.rpartition("/")[2])
    finally:
        package.close()
        path.unlink()
    deb["inits"] = inits


def _init_daemon(data: Any, member: Any) -> dict[str, Any]:
    """What an openstack-pkg-tools init script runs: its DAEMON (default /usr/bin/NAME)
    and DAEMON_ARGS, or uwsgi on UWSGI_PORT with UWSGI_INI_APP."""
    stream = data.extractfile(member)
    text = stream.read().decode("utf-8", "replace") if stream else ""
    values: dict[str, str] = {"NAME": member.name.rpartition("/")[2]}
    for key, value in re.findall(r"^([A-Z_]+)=(.*)$", text, re.M):
        expanded = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: values.get(m.group(1), ""), value)
        if key not in values or key == "NAME":
            values[key] = expanded.strip().strip("\"'")
    if "UWSGI_PORT" in values or "UWSGI_INI_APP" in values:
        port = values.get("UWSGI_PORT", "")
        return {
            "uwsgi": True,
            "port": int(port) if port.isdigit() else 0,
            "wsgi_app": values.get("UWSGI_INI_APP", ""),
        }
    daemon = values.get("DAEMON") or f"/usr/bin/{values['NAME']}"
    return {"exec": daemon, "args": values.get("DAEMON_ARGS", "").strip()}


def _exec_start(data: Any, member: Any) -> dict[str, Any]:
    """What a unit runs; a link to another unit (an alias) runs what that one runs."""
    if member.issym() or member.islnk():
        return {"alias": member.linkname.rpartition("/")[2]}
    stream = data.extractfile(member)
    text = stream.read().decode("utf-8", "replace") if stream else ""
    found = re.search(r"^ExecStart=(\S*)[ \t]*(.*)$", text, re.M)
    return {"exec": found.group(1), "args": found.group(2).strip()} if found else {}


def _extract(entry: dict[str, Any]) -> dict[str, Any]:
    # openstack-pkg-tools' units start an init script (ceilometer-agent-ipmi's is in
    # another package of the source), which names the daemon.
    inits = {k: v for deb in entry["binaries"].values() for k, v in deb.get("inits", {}).items()}
    for deb in entry["binaries"].values():
        # An init script without a unit runs as one (systemd-sysv-generator): Debian's
        # neutron-periodic-workers has only /etc/init.d/neutron-periodic-workers.
        for name, run in deb.get("inits", {}).items():
            deb["units"].setdefault(f"{name}.service", run)
        for unit, run in deb["units"].items():
            wrapped = INIT_WRAPPER.match(f"{run.get('exec', '')} {run.get('args', '')}")
            if wrapped and wrapped.group(1) in inits:
                deb["units"][unit] = inits[wrapped.group(1)]
    binaries = {
        name: {
            "tools": sorted(set(deb["tools"])),
            "units": dict(sorted(deb["units"].items())),
            "etc": sorted(set(deb["etc"])),
        }
        for name, deb in sorted(entry["binaries"].items())
    }
    return {"version": entry["version"], "binaries": binaries}
