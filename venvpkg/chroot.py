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
import shlex
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from venvpkg import runner
from venvpkg.config import Settings
from venvpkg.errors import DataError, NetworkError, ToolMissing, UsageError
from venvpkg.files import atomic_write_text, exclusive, sha256_file
from venvpkg.progress import Display
from venvpkg.scratch import private_dir, require_passable

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_MAX_AGE_DAYS = 7.0
# What every venv build needs beyond build-essential, baked in so that a build only has to
# install the requirements package and the project's own Build-Depends.
BAKED_IN = ["debhelper", "dh-virtualenv", "python3-venv", "fakeroot"]
# Two kinds of chroot per dist: "build" for sbuild, and "test", a plain apt system like an
# operator's node (plus systemd to check units), where packages are installed and removed.
FLAVOURS = {
    "build": ("buildd", BAKED_IN),
    "test": ("apt", ["systemd", "ca-certificates", "gpgv"]),
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


def directory(workdir: Path) -> Path:
    return workdir / "chroots"


def _paths(workdir: Path, dist: str, flavour: str = "build") -> tuple[Path, Path]:
    suffix = "" if flavour == "build" else f"-{flavour}"
    stem = directory(workdir) / f"{dist}-{architecture()}{suffix}"
    return Path(f"{stem}.tar"), Path(f"{stem}.json")


def options(settings: Settings) -> tuple[str, float]:
    """The mirror and the age (days) after which a chroot is refreshed, from [chroot]."""
    section = settings.section("chroot")
    mirror = str(section.get("mirror", os.environ.get("VENVPKG_MIRROR", DEFAULT_MIRROR)))
    try:
        max_age = float(section.get("max-age-days", DEFAULT_MAX_AGE_DAYS))
    except (TypeError, ValueError):
        raise UsageError("[chroot] max-age-days must be a number", "fix venvpkg.toml") from None
    return mirror.rstrip("/"), max_age


def load(workdir: Path, dist: str, flavour: str = "build") -> Chroot | None:
    """The recorded chroot for `dist`, or None when there is none (or only half of one)."""
    tarball, record_path = _paths(workdir, dist, flavour)
    if not (tarball.exists() and record_path.exists()):
        return None
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        return None
    return Chroot(dist, architecture(), tarball, record)


def listing(workdir: Path) -> list[Chroot]:
    found = []
    for record in directory(workdir).glob("*.json"):
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
    mirror, _ = options(settings)
    runner.tool_path("mmdebstrap")
    require_subids(display)
    check_mirror(mirror, dist)
    packages = FLAVOURS[flavour][1]
    tarball, record_path = _paths(settings.workdir, dist, flavour)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    log = settings.workdir / "logs" / f"chroot-{dist}.log"
    began = time.monotonic()
    partial = tarball.with_name(f".{tarball.name}.partial")
    display.info(f"creating the {dist} {flavour} chroot from {mirror}")
    try:
        _mmdebstrap(dist, FLAVOURS[flavour], mirror, partial, log, settings.scratch)
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
    _, max_age = options(settings)
    with exclusive(settings.workdir / "locks" / f"chroot-{dist}-{flavour}.lock", display.info):
        found = load(settings.workdir, dist, flavour)
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
    if load(settings.workdir, dist, "test") is not None:
        with exclusive(settings.workdir / "locks" / f"chroot-{dist}-test.lock", display.info):
            create(dist, settings, display, "test")
    with exclusive(settings.workdir / "locks" / f"chroot-{dist}-build.lock", display.info):
        return create(dist, settings, display)


def remove(dist: str, workdir: Path) -> None:
    found = False
    for flavour in FLAVOURS:
        tarball, record_path = _paths(workdir, dist, flavour)
        found = found or tarball.exists() or record_path.exists()
        # The record goes first: a tarball without one is never used.
        record_path.unlink(missing_ok=True)
        tarball.unlink(missing_ok=True)
    if not found:
        raise UsageError(f"no chroot for {dist} in {directory(workdir)}", "see venvpkg chroot list")


def require_tools() -> None:
    for program in ("sbuild", "mmdebstrap", "newuidmap"):
        try:
            runner.tool_path(program)
        except ToolMissing as missing:
            raise ToolMissing(
                f"{program} not found (needed for clean chroot builds)",
                f"{missing.hint}, or use --backend host",
            ) from None


# What `venvpkg release` needs inside a target's chroot beyond the build chroot.
RELEASE_PACKAGES = ["python3-dev", "python3-venv", "lintian", "git", "ca-certificates"]
INSIDE_VENV = "/opt/venvpkg"
INSIDE_SOURCE = "/opt/venvpkg-src"


def release_root(dist: str, settings: Settings, display: Display) -> Path:
    """An unpacked copy of the dist's chroot where `venvpkg release` can run as on that dist.

    Unlike a package build it persists: the bindep packages and the venvpkg environment
    installed into it are reused, and it is remade when the chroot tarball changes.
    """
    require_root_for_chroot(dist)
    found = ensure(dist, settings, display)
    root = found.tarball.with_suffix(".root")
    stamp = root / ".venvpkg-root"
    with exclusive(settings.workdir / "locks" / f"chroot-{dist}-root.lock", display.info):
        if stamp.exists() and stamp.read_text().strip() == found.sha256:
            return root
        display.info(f"unpacking the {dist} chroot for wheel builds")
        verify(found)
        staging = root.with_name(f".{root.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log = settings.workdir / "logs" / f"chroot-{dist}.log"
        runner.run(["tar", "-C", staging, "--same-owner", "-xf", found.tarball], log=log)
        enter(staging, ["apt-get", "update", "-q"], log=log)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *RELEASE_PACKAGES]
        enter(staging, install, log=log)
        enter(staging, ["python3", "-m", "venv", INSIDE_VENV], log=log)
        atomic_write_text(staging / ".venvpkg-root", found.sha256 + "\n")
        shutil.rmtree(root, ignore_errors=True)
        os.replace(staging, root)
    return root


def require_root_for_chroot(dist: str) -> None:
    if os.geteuid() != 0:
        raise UsageError(
            f"building for {dist} on a different host runs in a {dist} chroot, which needs root",
            f"run as root, or on a {dist} host",
        )


def enter(
    root: Path,
    command: list[str],
    *,
    log: Path | None = None,
    binds: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> int:
    """Run `command` chrooted in `root`, in a private mount namespace that dies with it.

    With a log, output goes there and a failure raises; without one it goes to our
    terminal and the exit code is returned (for a whole venvpkg run inside).
    """
    script = ["set -e", "mount --make-rprivate /"]
    for path in binds:
        script += [f"mkdir -p {shlex.quote(str(root))}{shlex.quote(str(path))}"]
        script += [f"mount --bind {shlex.quote(str(path))} {shlex.quote(str(root) + str(path))}"]
    quoted = shlex.quote(str(root))
    script += [
        f"mkdir -p {quoted}/proc {quoted}/dev",
        f"mount -t proc proc {quoted}/proc",
        f"mount --rbind /dev {quoted}/dev",
        f"cat /etc/resolv.conf > {quoted}/etc/resolv.conf",
        f'exec chroot {quoted} "$@"',
    ]
    clean = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    clean.update({"DEBIAN_FRONTEND": "noninteractive", **_host_network(root), **(env or {})})
    wrapped = [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child=SIGTERM",
        "sh",
        "-c",
        "\n".join(script),
        "sh",
    ]
    wrapped += ["env", "-i", *(f"{k}={v}" for k, v in sorted(clean.items())), *command]
    if log is not None:
        runner.run(wrapped, log=log, timeout=7200)
        return 0
    return runner.passthrough(wrapped)


# How the host reaches the index: proxies, and a CA bundle when the host names one (a
# TLS-intercepting proxy's CA lives only there). The chroot must reach it the same way.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE")
INSIDE_CA = "/etc/venvpkg/host-ca.crt"


def _host_network(root: Path) -> dict[str, str]:
    found = {k: os.environ[k] for k in PROXY_VARIABLES if os.environ.get(k)}
    bundle = next(
        (os.environ[k] for k in CA_VARIABLES if os.path.isfile(os.environ.get(k, ""))), ""
    )
    if bundle:
        copy = root / INSIDE_CA.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle, copy)
        found |= {k: INSIDE_CA for k in CA_VARIABLES}
    return found


def install_venvpkg(root: Path, settings: Settings, display: Display) -> None:
    """This venvpkg's code and its dependencies, for the chroot's own Python."""
    source = root / INSIDE_SOURCE.lstrip("/") / "venvpkg"
    shutil.rmtree(source, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(resources.files("venvpkg"), source, ignore=skip)  # type: ignore[arg-type]
    for part in ("templates", "requirements_packages"):
        packaged = resources.files(f"venvpkg.{part}")
        shutil.copytree(packaged, source / part, ignore=skip, dirs_exist_ok=True)  # type: ignore[arg-type]
    wanted = sorted(r for r in metadata.requires("venvpkg") or [] if "extra ==" not in r)
    stamp = root / INSIDE_VENV.lstrip("/") / "venvpkg-requirements.txt"
    if stamp.exists() and stamp.read_text() == "\n".join(wanted):
        return
    display.info(f"installing venvpkg's dependencies into the chroot: {', '.join(wanted)}")
    pip = [f"{INSIDE_VENV}/bin/pip", "install", "-q", "--index-url", settings.index_url, *wanted]
    enter(root, pip, log=settings.workdir / "logs" / "chroot-venvpkg.log", env=_pip_env())
    stamp.write_text("\n".join(wanted))


def _pip_env() -> dict[str, str]:
    return {"PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run_venvpkg(root: Path, arguments: list[str], settings: Settings, binds: Sequence[Path]) -> int:
    """venvpkg itself, run inside the chroot on the same workdir; its output is ours."""
    command = [f"{INSIDE_VENV}/bin/python", "-m", "venvpkg", *arguments]
    return enter(root, command, binds=[settings.workdir, *binds], env=venvpkg_env(os.environ))


def venvpkg_env(outside: Mapping[str, str]) -> dict[str, str]:
    """What the venvpkg inside the chroot takes from ours; the rest of the chroot is clean."""
    env = {**_pip_env(), "PYTHONPATH": INSIDE_SOURCE, "TERM": outside.get("TERM", "dumb")}
    # It dates a plain --requirements directory; inside, the same date must be seen.
    if "SOURCE_DATE_EPOCH" in outside:
        env["SOURCE_DATE_EPOCH"] = outside["SOURCE_DATE_EPOCH"]
    return env
