"""Debian versions of venv packages: epoch, PEP 440 mapped to Debian ordering, revisions."""

from __future__ import annotations

import json
from pathlib import Path

from packaging.version import InvalidVersion, Version

from venvpkg.files import atomic_write_text

DEFAULT_EPOCH = 90
# Pre-releases sort before the release in PEP 440; Debian needs a tilde for that.
PRE = {"a": "~a", "b": "~b", "rc": "~rc"}


def upstream(version: Version) -> str:
    """PEP 440 -> Debian upstream version with the same ordering (28.0.0rc1 -> 28.0.0~rc1)."""
    text = ".".join(str(part) for part in version.release)
    if version.pre:
        text += f"{PRE[version.pre[0]]}{version.pre[1]}"
    if version.post is not None:
        text += f"+post{version.post}"
    if version.dev is not None:
        # 1.0.dev1 < 1.0a1 in PEP 440: a bare dev release needs the double tilde.
        bare = version.pre is None and version.post is None
        text += f"{'~~' if bare else '~'}dev{version.dev}"
    if version.local:
        text += f"+{version.local.replace('_', '.')}"
    return text


def pep440(debian_upstream: str) -> str:
    """The PEP 440 version `upstream` mapped to `debian_upstream` (28.0.0~rc1 -> 28.0.0rc1)."""
    candidate = debian_upstream.replace("~", "").replace("+post", ".post")
    try:
        version = Version(candidate)
    except InvalidVersion:
        version = None
    if version is None or upstream(version) != debian_upstream:
        raise ValueError(f"{debian_upstream} is no Debian form of a PEP 440 version")
    return str(version)


def debian_version(version: Version, revision: int, suffix: str, epoch: int) -> str:
    """`90:28.0.2-1+deb12`: the epoch wins over the distribution's own packages."""
    prefix = f"{epoch}:" if epoch else ""
    return f"{prefix}{upstream(version)}-{revision}{suffix}"


def next_revision(state: Path, upstream_version: str, fingerprint: str) -> tuple[int, bool]:
    """The revision for these inputs: the same as last time if nothing changed, else one more.

    Returns (revision, changed). Revisions only ever rise for one upstream version, so a
    rebuild always upgrades the previous one.
    """
    record = json.loads(state.read_text()) if state.is_file() else {}
    seen = record.get(upstream_version, {})
    if seen.get("fingerprint") == fingerprint:
        return int(seen["revision"]), False
    revision = int(seen.get("revision", 0)) + 1
    return revision, True


def remember_revision(state: Path, upstream_version: str, fingerprint: str, revision: int) -> None:
    record = json.loads(state.read_text()) if state.is_file() else {}
    record[upstream_version] = {"revision": revision, "fingerprint": fingerprint}
    atomic_write_text(state, json.dumps(record, indent=1, sort_keys=True))
