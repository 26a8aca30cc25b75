"""The root where a target's sdists are compiled: this host when it runs the target's
release, else an unpacked copy of the target's build chroot, driven from the host.

The copy persists: the bindep packages installed into it are reused, and it is remade
when the chroot tarball changes.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

from venvpkg import chroot, runner, targets
from venvpkg.config import Settings
from venvpkg.errors import UsageError
from venvpkg.files import atomic_write_text, exclusive, replace_dir
from venvpkg.places import HOST, Place
from venvpkg.progress import Display
from venvpkg.targets import Target
from venvpkg.workdir import Workdir

# What compiling sdists needs beyond the build chroot: headers and venv for python3.
ROOT_PACKAGES = ["python3-dev", "python3-venv"]
STAMP = ".venvpkg-root"


def for_target(target: Target, settings: Settings, display: Display) -> Place:
    """Where `target`'s wheels are built; makes the root on first use."""
    if targets.host_is(target):
        targets.require_host_can_build(target)
        return HOST
    return Place(release_root(target.name, settings, display), (settings.workdir.absolute(),))


def release_root(dist: str, settings: Settings, display: Display) -> Path:
    """An unpacked copy of the dist's build chroot with python3-dev and python3-venv."""
    require_root_for_chroot(dist)
    found = chroot.ensure(dist, settings, display)
    root = found.tarball.with_suffix(".root")
    with exclusive(settings.paths.lock(f"chroot-{dist}-root"), display.info):
        stamp = root / STAMP
        if stamp.exists() and stamp.read_text().strip() == found.sha256:
            return root
        display.info(f"unpacking the {dist} chroot for wheel builds")
        chroot.verify(found)
        staging = root.with_name(f".{root.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        log = settings.paths.log(f"chroot-{dist}.log")
        runner.run(["tar", "-C", staging, "--same-owner", "-xf", found.tarball], log=log)
        unpacked = Place(staging)
        unpacked.run(["apt-get", "update", "-q"], log=log)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *ROOT_PACKAGES]
        unpacked.run(install, log=log)
        atomic_write_text(staging / STAMP, found.sha256 + "\n")
        replace_dir(staging, root)
    return root


def resolver_python(place: Place, target: Target, workdir: Workdir, index_url: str) -> Path:
    """A Python of the target's version that runs pip-compile, so that markers and
    wheel tags are the target's: ours on the host, else a venv in the root holding the
    pip and pip-tools versions we run (fetched once, from the index)."""
    if place.root is None:
        return _this_python(target)
    home = workdir.resolve_tools(target.name, target.python)
    # Our pip-tools; pip itself the newest for the target's Python, since the pip we run
    # may predate it (pip 23.0 fails on Python 3.13).
    wanted = ["--upgrade", "pip", f"pip-tools=={metadata.version('pip-tools')}"]
    stamp = home / "venvpkg-tools.txt"
    if stamp.is_file() and stamp.read_text() == " ".join(wanted):
        return home / "bin" / "python"
    log = workdir.log("resolve-tools.log")
    staging = home.with_name(f".{home.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    place.run([target.interpreter, "-m", "venv", staging], log=log)
    pip: list[str | os.PathLike[str]] = [staging / "bin" / "python", "-m", "pip", "install"]
    place.run([*pip, "-q", "--index-url", index_url, *wanted], log=log)
    (staging / stamp.name).write_text(" ".join(wanted))
    # The venv is only ever called as bin/python -m ..., which a rename keeps working.
    replace_dir(staging, home)
    return home / "bin" / "python"


def _this_python(target: Target) -> Path:
    if sys.version_info[:2] != target.python:
        raise UsageError(
            f"resolving for python{target.python[0]}.{target.python[1]} on this host needs "
            f"venvpkg running on that Python (it runs on {sys.version_info[0]}."
            f"{sys.version_info[1]})",
            f"install venvpkg with {target.interpreter} -m venv",
        )
    return Path(sys.executable)


def require_root_for_chroot(dist: str) -> None:
    if os.geteuid() != 0:
        raise UsageError(
            f"building {dist} wheels on a host of another release uses a {dist} chroot, "
            "which needs root",
            f"run as root, or on a {dist} host",
        )
