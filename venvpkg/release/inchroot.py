"""Wheelhouses for another Debian release, built by venvpkg running inside its chroot.

The chroot is an unpacked copy of the release's build chroot that persists: the bindep
packages and the venvpkg environment installed into it are reused, and it is remade when
the chroot tarball changes.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path

from venvpkg import chroot, runner, targets
from venvpkg.config import Settings
from venvpkg.errors import UsageError
from venvpkg.files import atomic_write_text, exclusive
from venvpkg.progress import Display
from venvpkg.release import ReleaseRequest


def release_in_chroot(request: ReleaseRequest, settings: Settings, display: Display) -> int:
    """Wheels for another Debian release are built by venvpkg running on that release."""
    target = request.target
    targets.require_venvpkg_runs_on(target)
    root = release_root(target.name, settings, display)
    install_venvpkg(root, settings, display)
    inner = ["release", request.series.id, "--target", target.name]
    inner += ["--projects", ",".join(request.projects)] if request.projects else []
    inner += ["--workdir", str(settings.workdir), "-j", str(settings.jobs)]
    inner += ["--index-url", settings.index_url]
    inner += ["--allow-missing"] if request.allow_missing else []
    inner += ["--dry-run"] if request.dry_run else []
    binds = []
    for flag, value in (
        ("--requirements", request.requirements),
        ("--config", settings.config_file),
    ):
        if value:
            local = Path(value).absolute()
            inner += [flag, str(local) if local.exists() else str(value)]
            binds += [local.parent] if local.exists() else []
    inner += [f for f, on in (("--json", settings.json), ("--debug", settings.debug)) if on]
    inner += ["-v"] * max(0, settings.verbosity) + ["-q"] * max(0, -settings.verbosity)
    display.info(f"building {target.name}'s wheelhouse inside its chroot ({root})")
    return run_venvpkg(root, inner, settings, binds)


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
    found = chroot.ensure(dist, settings, display)
    root = found.tarball.with_suffix(".root")
    stamp = root / ".venvpkg-root"
    with exclusive(settings.paths.lock(f"chroot-{dist}-root"), display.info):
        if stamp.exists() and stamp.read_text().strip() == found.sha256:
            return root
        display.info(f"unpacking the {dist} chroot for wheel builds")
        chroot.verify(found)
        staging = root.with_name(f".{root.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log = settings.paths.log(f"chroot-{dist}.log")
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
    enter(root, pip, log=settings.paths.log("chroot-venvpkg.log"), env=_pip_env())
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
