"""Native build dependencies of a wheelhouse, from the requirements branch's bindep.txt."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from venvpkg.errors import DataError, ToolMissing
from venvpkg.files import remembered
from venvpkg.places import HOST, Place
from venvpkg.targets import Target


def target_profiles(target: Target) -> list[str]:
    """bindep profiles of a Debian release, independent of the host we run on."""
    return [
        "default",
        "platform:dpkg",
        "platform:debian",
        f"platform:debian-{target.name}",
        f"platform:debian-{target.debian_version}",
        "platform:base-py3",
    ]


def build_dependencies(
    bindep_text: str, target: Target, origin: str = "bindep.txt", cache: Path | None = None
) -> list[str]:
    """Debian packages (with version constraints, Debian syntax) the default profile needs."""
    if not bindep_text.strip():
        return []
    # bindep's grammar parser takes about a second per file; the answer only changes
    # with the file and the target.
    key = hashlib.sha256(f"{target.name}\0{bindep_text}".encode()).hexdigest()[:24]
    slot = cache / f"{key}.json" if cache else None
    return list(remembered(slot, lambda: _evaluate(bindep_text, target, origin)))


def _evaluate(bindep_text: str, target: Target, origin: str) -> list[str]:
    # Imported here: its grammar takes 80 ms to load, and the answer is usually cached.
    from bindep.depends import Depends, DependsException

    try:
        depends = Depends(bindep_text, filename=origin)
    except DependsException as error:
        raise DataError(f"{origin}: {error}", "fix the bindep syntax") from None
    packages = []
    for name, _profiles, versions in depends.active_rules(target_profiles(target)):
        constraints = ", ".join(f"{name} ({op} {version})" for op, version in versions)
        packages.append(constraints or name)
    return sorted(set(packages))


def package_names(dependencies: list[str]) -> list[str]:
    return sorted({dep.split()[0] for dep in dependencies})


def missing(packages: list[str], place: Place = HOST) -> list[str]:
    """Which of `packages` dpkg does not have installed in `place`."""
    if not packages:
        return []
    # dpkg-query exits 1 when it knows some names not at all; its output still lists the rest.
    query = ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages]
    out = place.capture(query, ok_codes=(0, 1))
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [name for name in packages if name not in installed]


def ensure_installed(
    packages: list[str], log: Path, install: bool, place: Place = HOST
) -> list[str]:
    """Install missing packages with apt when allowed and possible; else name them."""
    absent = missing(packages, place)
    if not absent:
        return []
    command = "apt-get install " + " ".join(absent)
    if not install or os.geteuid() != 0:
        raise ToolMissing(f"missing build dependencies: {' '.join(absent)}", f"run: {command}")
    if place is not HOST:
        # A root's package lists date from when it was unpacked.
        place.run(["apt-get", "update", "-q"], log=log)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    install_command = ["apt-get", *APT_WAIT, "install", "-y", "--no-install-recommends"]
    place.run([*install_command, *absent], log=log, env=env)
    return absent


# Another venvpkg run (a second workdir, a farm worker) may be installing at the same
# moment: wait for dpkg's lock instead of failing at once.
APT_WAIT = ("-o", "DPkg::Lock::Timeout=600")


# OpenStack projects' bindep.txt serves their unit tests as much as their services:
# headers, compilers, database servers and locales are for the gate, not for a node
# (blazar 16 lists default-mysql-server unprofiled). Nor is a boot loader: ironic lists
# grub-efi-amd64-signed for UEFI network boot, and installing a service must not change
# how the node boots (Debian's ironic-conductor does not depend on it either).
TEST_ONLY = re.compile(
    r"(-dev(-compat)?|^python3-all.*|^(default-)?(mariadb|mysql)-(server|client)"
    r"|^postgresql(-client)?|^locales$|^gettext$|^build-essential$|^gcc$|^grub-|^shim-)"
)


def runtime_dependencies(bindep_text: str, target: Target, origin: str = "bindep.txt") -> list[str]:
    """What a project's services need on the node, from its bindep.txt's default profile."""
    found = build_dependencies(bindep_text, target, origin)
    return [dep for dep in found if not TEST_ONLY.search(dep.split()[0])]


def unavailable(packages: list[str], place: Place = HOST, cache: Path | None = None) -> list[str]:
    """Which of `packages` apt has no candidate for (bindep entries of older releases)."""
    if not packages:
        return []
    # apt-cache loads every package list for this: half a second of each release run,
    # for an answer that changes only with the lists, apt's settings or what is installed.
    state = place.stamps("/var/lib/dpkg/status", "/var/lib/apt/lists", "/etc/apt")
    key = hashlib.sha256(f"{state}\0{' '.join(packages)}".encode()).hexdigest()
    slot = cache / f"{key[:32]}.json" if cache else None
    return list(remembered(slot, lambda: _without_candidate(packages, place)))


def _without_candidate(packages: list[str], place: Place) -> list[str]:
    out = place.capture(["apt-cache", "policy", *packages], ok_codes=(0, 100))
    candidates: dict[str, bool] = {}
    current = ""
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = line.rstrip(":")
            candidates[current] = False
        elif line.strip().startswith("Candidate:"):
            candidates[current] = line.split(":", 1)[1].strip() != "(none)"
    return [name for name in packages if not candidates.get(name, False)]
