"""requirements.lock: every wheel of a wheelhouse pinned by name, version and sha256."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg.release.entries import Entry


def lock_text(entries: Iterable[Entry]) -> str:
    """A pip requirements file that pins every wheel by name, version and sha256."""
    lines = [
        "# Every wheel of this wheelhouse; install with:",
        "#   pip install --no-index --find-links . --require-hashes -r requirements.lock",
    ]
    for entry in sorted(entries, key=lambda e: e.name):
        lines.append(f"{entry.name}=={entry.version} \\\n    --hash=sha256:{entry.sha256}")
    return "\n".join(lines) + "\n"


def read_lock(lock: Path) -> dict[NormalizedName, tuple[Version, str]]:
    """name -> (version, sha256) from a requirements.lock."""
    found: dict[NormalizedName, tuple[Version, str]] = {}
    for line in lock.read_text().replace("\\\n", " ").splitlines():
        if "==" not in line or line.lstrip().startswith("#"):
            continue
        spec, _, digest = line.partition("--hash=sha256:")
        name, _, version = spec.strip().partition("==")
        found[canonicalize_name(name)] = (Version(version), digest.strip())
    return found


def entries_from_lock(wheelhouse: Path) -> list[Entry]:
    """Entries of a finished wheelhouse, read back from its lock."""
    wheels = {canonicalize_name(w.name.split("-")[0]): w for w in wheelhouse.glob("*.whl")}
    return [
        Entry(name, version, sha256=digest, wheel=wheels.get(name))
        for name, (version, digest) in read_lock(wheelhouse / "requirements.lock").items()
    ]
