"""Clean build chroots: mmdebstrap tarballs cached in the workdir for sbuild's unshare mode.

A chroot is one tarball plus a JSON record of how and when it was made and its sha256.
The record is written after the tarball is in place, so a tarball without one (an
interrupted create) is never used, and a tarball whose bytes no longer match is refused.
"""

from __future__ import annotations

import json
import os
import platform
import pwd
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venvpkg import runner
from venvpkg.config import Settings
from venvpkg.errors import DataError, NetworkError, ToolMissing, UsageError
from venvpkg.files import atomic_write_text, exclusive, sha256_file
from venvpkg.progress import Display
from venvpkg.scratch import private_dir, require_passable
from venvpkg.workdir import Workdir

# What every venv build needs beyond build-essential, baked in so that a build only has to
# install the requirements package and the project's own Build-Depends.
BAKED_IN = ["debhelper", "dh-virtualenv", "python3-venv", "fakeroot"]
# Two kinds of chroot per dist: "build" for sbuild, and "test", a plain apt system like an
# operator's node (plus systemd to check units), where packages are installed and removed.
# netbase and tzdata are on every node (priority important and required) but not in
# mmdebstrap's apt variant; pulled in by a test, they write /etc/hosts and /etc/timezone,
# which their purge then keeps (the testbed edits the one; bullseye's tzdata keeps the other).
FLAVOURS = {
    "build": ("buildd", BAKED_IN),
    "test": ("apt", ["systemd", "ca-certificates", "gpgv", "netbase", "tzdata"]),
}
# sbuild's unshare mode maps the build's users into this many subordinate ids.
SUBID_RANGE = 65536


@dataclass(frozen=True)
class Chroot:
    dist: str
    arch: str
    tarball: Path
    record: dict[str, Any]

    @property
    def flavour(self) -> str:
        return str(self.record.get("flavour", "build"))

    @property
    def sha256(self) -> str:
        return str(self.record["sha256"])

    @property
    def age_days(self) -> float:
        return (time.time() - float(self.record["created"])) / 86400


def architecture() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def _paths(workdir: Workdir, dist: str, flavour: str = "build") -> tuple[Path, Path]:
    suffix = "" if flavour == "build" else f"-{flavour}"
    stem = workdir.chroots / f"{dist}-{architecture()}{suffix}"
    return Path(f"{stem}.tar"), Path(f"{stem}.json")


def load(workdir: Workdir, dist: str, flavour: str = "build") -> Chroot | None:
    """The recorded chroot for `dist`, or None when there is none (or only half of one)."""
    tarball, record_path = _paths(workdir, dist, flavour)
    if not (tarball.exists() and record_path.exists()):
        return None
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        return None
    return Chroot(dist, architecture(), tarball, record)


def listing(workdir: Workdir) -> list[Chroot]:
    found = []
    for record in workdir.chroots.glob("*.json"):
        try:
            fields = json.loads(record.read_text())
        except ValueError:
            continue
        found.append(load(workdir, str(fields.get("dist")), str(fields.get("flavour", "build"))))
    return sorted((c for c in found if c), key=lambda c: (c.dist, c.flavour))


def check_mirror(mirror: str, dist: str, timeout: float = 20) -> None:
    """One line for an unknown dist or an unreachable mirror, before mmdebstrap says more."""
    url = f"{mirror}/dists/{dist}/Release"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise UsageError(
                f"unknown dist {dist!r}: {mirror} has no dists/{dist}/Release",
                "use a Debian codename the mirror serves, e.g. bookworm or trixie",
            ) from None
        raise NetworkError(f"mirror {mirror} answered {error.code} for {url}", "retry") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise NetworkError(
            f"mirror {mirror} unreachable: {reason}",
            "check the network or set [chroot] mirror in venvpkg.toml",
        ) from None


def require_subids(display: Display, files: tuple[Path, Path] | None = None) -> None:
    """Unshare mode needs subordinate ids; root gets them set up, others get the lines."""
    files = files or (Path("/etc/subuid"), Path("/etc/subgid"))
    user = pwd.getpwuid(os.geteuid()).pw_name
    missing = [f for f in files if not _has_range(f, user)]
    if not missing:
        return
    if os.geteuid() == 0:
        for path in missing:
            with path.open("a") as stream:
                stream.write(f"{user}:100000:{SUBID_RANGE}\n")
            display.info(f"added {user}:100000:{SUBID_RANGE} to {path} for unshare mode")
        return
    lines = " and ".join(f"'{user}:100000:{SUBID_RANGE}' to {f}" for f in missing)
    raise UsageError(
        f"no subordinate ids for {user}: sbuild's unshare mode needs them", f"as root, add {lines}"
    )


def _has_range(path: Path, user: str) -> bool:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.strip().split(":")
        owner_matches = len(parts) == 3 and parts[0] in (user, str(os.geteuid()))
        if owner_matches and parts[2].isdigit() and int(parts[2]) >= SUBID_RANGE:
            return True
    return False


def _mmdebstrap(
    dist: str,
    flavour: tuple[str, list[str]],
    mirror: str,
    output: Path,
    log: Path,
    scratch: str | None,
) -> None:
    variant, packages = flavour
    # mmdebstrap installs into TMPDIR before it writes the tarball.
    with private_dir(scratch, 4 << 30, "mmdebstrap") as tmpdir:
        require_passable(tmpdir)
        runner.run(
            [
                # The chroot's own users (apt's _apt) must read what it holds, whatever
                # umask the caller runs under (a daemon's is often 077).
                "sh",
                "-c",
                'umask 022 && exec "$@"',
                "mmdebstrap",
                "mmdebstrap",
                "--mode=unshare",
                f"--variant={variant}",
                f"--arch={architecture()}",
                f"--include={','.join(packages)}",
                # sbuild mounts its own /dev; device nodes cannot be made in a user namespace.
                "--skip=output/dev",
                "--format=tar",
                dist,
                output,
                mirror,
            ],
            log=log,
            env=dict(os.environ, TMPDIR=str(tmpdir)),
            timeout=3600,
        )


def create(dist: str, settings: Settings, display: Display, flavour: str = "build") -> Chroot:
    """mmdebstrap a tarball for `dist`; the old one stays until the new one is whole."""
    mirror = settings.chroot.mirror
    runner.tool_path("mmdebstrap")
    require_subids(display)
    check_mirror(mirror, dist)
    packages = FLAVOURS[flavour][1]
    tarball, record_path = _paths(settings.paths, dist, flavour)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    log = settings.paths.log(f"chroot-{dist}.log")
    began = time.monotonic()
    partial = tarball.with_name(f".{tarball.name}.partial")
    display.info(f"creating the {dist} {flavour} chroot from {mirror}")
    try:
        _mmdebstrap(dist, FLAVOURS[flavour], mirror, partial, log, settings.build.scratch)
        record = {
            "dist": dist,
            "arch": architecture(),
            "mirror": mirror,
            "flavour": flavour,
            "packages": packages,
            "created": time.time(),
            "seconds": round(time.monotonic() - began, 1),
            "size": partial.stat().st_size,
            "sha256": sha256_file(partial),
        }
        os.replace(partial, tarball)
    finally:
        partial.unlink(missing_ok=True)
    atomic_write_text(record_path, json.dumps(record, indent=1) + "\n")
    return Chroot(dist, architecture(), tarball, record)


def ensure(dist: str, settings: Settings, display: Display, flavour: str = "build") -> Chroot:
    """A chroot for `dist`, made or refreshed when missing or older than allowed."""
    max_age = settings.chroot.max_age_days
    with exclusive(settings.paths.lock(f"chroot-{dist}-{flavour}"), display.info):
        found = load(settings.paths, dist, flavour)
        current = found is not None and found.record.get("packages") == FLAVOURS[flavour][1]
        if found is not None and current and found.age_days <= max_age:
            return found
        if found is not None:
            why = f"is {found.age_days:.1f} days old" if current else "lacks packages we need"
            display.info(f"the {dist} {flavour} chroot {why}; refreshing it")
        return create(dist, settings, display, flavour)


def verify(chroot: Chroot) -> None:
    """Refuse a tarball whose bytes are not the ones recorded when it was made."""
    if not chroot.tarball.exists() or sha256_file(chroot.tarball) != chroot.sha256:
        raise DataError(
            f"chroot tarball {chroot.tarball} is corrupt (sha256 differs from its record)",
            f"run: venvpkg chroot update {chroot.dist}",
        )


def update(dist: str, settings: Settings, display: Display) -> Chroot:
    """Remake the dist's build chroot now (and its test chroot, when there is one)."""
    if load(settings.paths, dist, "test") is not None:
        with exclusive(settings.paths.lock(f"chroot-{dist}-test"), display.info):
            create(dist, settings, display, "test")
    with exclusive(settings.paths.lock(f"chroot-{dist}-build"), display.info):
        return create(dist, settings, display)


def remove(dist: str, workdir: Workdir) -> None:
    found = False
    for flavour in FLAVOURS:
        tarball, record_path = _paths(workdir, dist, flavour)
        found = found or tarball.exists() or record_path.exists()
        # The record goes first: a tarball without one is never used.
        record_path.unlink(missing_ok=True)
        tarball.unlink(missing_ok=True)
    if not found:
        raise UsageError(f"no chroot for {dist} in {workdir.chroots}", "see venvpkg chroot list")


def require_tools() -> None:
    for program in ("sbuild", "mmdebstrap", "newuidmap"):
        try:
            runner.tool_path(program)
        except ToolMissing as missing:
            raise ToolMissing(
                f"{program} not found (needed for clean chroot builds)",
                f"{missing.hint}, or use --backend host",
            ) from None
