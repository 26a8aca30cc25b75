"""Debian releases we build for: their Python, C library and wheel tags."""

from __future__ import annotations

import difflib
import platform
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from packaging import tags

from venvpkg.errors import UsageError


@dataclass(frozen=True)
class Target:
    """A Debian release as a build target."""

    name: str
    debian_version: int
    python: tuple[int, int]
    python_full: str
    glibc: tuple[int, int]
    # Parts of python3.X's standard library Debian ships in packages of their own: a build
    # chroot has them (python3-dev), a node only when a venv package depends on them
    # (oslo.versionedobjects before 2.0 imports distutils.versionpredicate).
    stdlib_packages: tuple[str, ...] = ()
    # The uwsgi binary uwsgi-plugin-python3 ships for this Python. Not the uwsgi_python3
    # alternative: bullseye's and bookworm's plugin removes it whenever python3 itself is
    # configured, and a unit that runs it cannot start afterwards.
    uwsgi: str = "/usr/bin/uwsgi_python3"

    @property
    def python_tag(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}"

    @property
    def interpreter(self) -> Path:
        return Path(f"/usr/bin/python{self.python[0]}.{self.python[1]}")

    @property
    def version_suffix(self) -> str:
        """Appended to package versions so one pool can hold builds for several releases."""
        return f"+deb{self.debian_version}"

    @cached_property
    def wheel_tags(self) -> tuple[tags.Tag, ...]:
        """Tags of wheels that install on this release, best first."""
        arch = platform.machine()
        platforms = [
            f"manylinux_{self.glibc[0]}_{minor}_{arch}" for minor in range(self.glibc[1], 4, -1)
        ]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        expanded = []
        for name in platforms:
            expanded.append(name)
            minor = int(name.split("_")[2])
            if minor in legacy:
                expanded.append(f"{legacy[minor]}_{arch}")
        found = list(tags.cpython_tags(self.python, abis=[self.python_tag], platforms=expanded))
        found += tags.compatible_tags(self.python, interpreter=self.python_tag, platforms=expanded)
        return tuple(found)

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values of this release's python3."""
        major, minor = self.python
        return {
            "implementation_name": "cpython",
            "implementation_version": self.python_full,
            "os_name": "posix",
            "platform_machine": platform.machine(),
            "platform_python_implementation": "CPython",
            "platform_system": "Linux",
            "python_full_version": self.python_full,
            "python_version": f"{major}.{minor}",
            "sys_platform": "linux",
        }


# Until Python 3.12 Debian splits distutils and lib2to3 out of the standard library.
SPLIT_STDLIB = ("python3-distutils", "python3-lib2to3")
TARGETS = {
    t.name: t
    for t in (
        Target("bullseye", 11, (3, 9), "3.9.2", (2, 31), SPLIT_STDLIB, "/usr/bin/uwsgi_python39"),
        Target(
            "bookworm", 12, (3, 11), "3.11.2", (2, 36), SPLIT_STDLIB, "/usr/bin/uwsgi_python311"
        ),
        Target("trixie", 13, (3, 13), "3.13.5", (2, 41)),
    )
}


def lookup(name: str) -> Target:
    target = TARGETS.get(name.strip().lower())
    if target is None:
        close = difflib.get_close_matches(name.lower(), TARGETS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"choose one of {', '.join(TARGETS)}"
        raise UsageError(f"unknown target {name!r}", hint)
    return target


def host_release(os_release: Path = Path("/etc/os-release")) -> str | None:
    """The codename of the Debian release this machine runs, if it is Debian."""
    try:
        text = os_release.read_text()
    except OSError:
        return None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields.get("VERSION_CODENAME", "").strip('"') or None


def host_is(target: Target, os_release: Path = Path("/etc/os-release")) -> bool:
    return host_release(os_release) == target.name


def require_host_can_build(target: Target, os_release: Path = Path("/etc/os-release")) -> None:
    """Refuse a target whose wheels this host would build for the wrong Python."""
    host = host_release(os_release)
    if host != target.name:
        raise UsageError(
            f"target {target.name} needs its own python{target.python[0]}.{target.python[1]}; "
            f"this host is {host or 'not Debian'}",
            f"build on a {target.name} host, or use --target {host}"
            if host in TARGETS
            else f"build on a {target.name} host",
        )
    if not target.interpreter.exists():
        raise UsageError(
            f"{target.interpreter} is missing",
            f"apt-get install python{target.python[0]}.{target.python[1]}-dev python3-venv",
        )
