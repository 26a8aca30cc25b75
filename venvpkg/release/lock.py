"""requirements.lock: every wheel of a wheelhouse pinned by name, version and sha256.

The digests are those the wheels came with (the index's for a fetched wheel, the one
recorded when a wheel was built here), never read back from the files themselves: a
file changed on disk must be refused, not locked with its new digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg.errors import BuildFailed
from venvpkg.files import sha256_file
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


def verify(wheelhouse: Path, jobs: int = 2) -> str:
    """Check every wheel of a wheelhouse against its lock; return the digest of its content.

    The content digest covers every file (the lock names each wheel's digest), so two
    wheelhouses share it only when they are the same, byte for byte.
    """
    locked = read_lock(wheelhouse / "requirements.lock")
    wheels = sorted(wheelhouse.glob("*.whl"))
    # hashlib releases the GIL: threads hash side by side.
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        actual = dict(zip(wheels, pool.map(sha256_file, wheels), strict=True))
    wrong = []
    for wheel, digest in actual.items():
        name = canonicalize_name(wheel.name.split("-")[0])
        expected = locked.get(name, (None, ""))[1]
        if digest != expected:
            wrong.append(
                f"{wheel}: sha256 {digest[:16]}…, the lock says {expected[:16] or 'nothing'}…"
            )
    missing = set(locked) - {canonicalize_name(w.name.split("-")[0]) for w in wheels}
    wrong += [f"{wheelhouse}: no wheel of {name}, which the lock pins" for name in sorted(missing)]
    if wrong:
        raise BuildFailed(
            f"{len(wrong)} file(s) of {wheelhouse} differ from the digests they came with",
            "a wheel changed on disk: remove it (and its copy in the workdir's store) and re-run",
            wrong,
        )
    content = hashlib.sha256()
    for path in sorted(p for p in wheelhouse.iterdir() if p.is_file()):
        digest = actual.get(path) or sha256_file(path)
        content.update(f"{path.name} {digest}\n".encode())
    return content.hexdigest()
