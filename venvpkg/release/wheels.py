"""Stage 1b: turn sdists into wheels for the target's Python, strictly offline."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from venvpkg import metadata
from venvpkg.errors import CommandFailed, VenvpkgError
from venvpkg.places import Place
from venvpkg.targets import Target
from venvpkg.workdir import Workdir

# Part of the built-wheel cache key: a change to how sdists are compiled rebuilds them.
BUILD_RECIPE = "g0"
# What pip assumes for a project without [build-system] (PEP 518), plus pbr, which
# OpenStack's setup.py files request through setup_requires.
LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0", "wheel"]
SETUP_REQUIRES = re.compile(r"setup_requires\s*=\s*\[([^\]]*)\]", re.S)


class WheelBuildFailed(VenvpkgError):
    """One sdist did not build; the message is the one-line cause."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(message, f"see {log}")
        self.log = log


BUILD_FILES = re.compile(r"^[^/]+/(pyproject\.toml|setup\.py)$")


def _build_file(name: str) -> str | None:
    """pyproject.toml and setup.py at the top of an sdist, by their own names."""
    return name.split("/", 1)[1] if BUILD_FILES.match(name) else None


def build_requires(sdist: Path) -> list[str]:
    """The build-system requirements an sdist declares (PEP 518), or the legacy default."""
    members = metadata.sdist_members(sdist, _build_file)
    requires: list[str] = []
    if "pyproject.toml" in members:
        try:
            document = tomllib.loads(members["pyproject.toml"].decode("utf-8", "replace"))
        except tomllib.TOMLDecodeError:
            document = {}
        requires = list(document.get("build-system", {}).get("requires", []))
    if not requires:
        requires = list(LEGACY_BUILD_REQUIRES)
    if "setup.py" in members:
        match = SETUP_REQUIRES.search(members["setup.py"].decode("utf-8", "replace"))
        if match:
            requires += re.findall(r"['\"]([^'\"]+)['\"]", match.group(1))
    return requires


def build_environment(target: Target, workdir: Workdir, place: Place) -> Path:
    """A venv of the target's own interpreter that runs `pip wheel`; created once, offline."""
    home = workdir.build_tools(target.name, target.python)
    python = home / "bin" / "python"
    # Not python.exists(): in a root's venv it links to an interpreter the host lacks.
    if (home / "pyvenv.cfg").exists():
        return python
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".venv-", dir=home.parent))
    log = workdir.log("build-environment.log")
    try:
        _make_venv(target, staging, place, log)
        # A venv embeds its own path in scripts; rename keeps the interpreter working
        # because we only ever call bin/python -m pip.
        staging.rename(home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return python


# Where python3-pip-whl puts the pip wheel ensurepip installs.
DEBIAN_WHEELS = "/usr/share/python-wheels"


def _make_venv(target: Target, staging: Path, place: Place, log: Path) -> None:
    """A venv with the target's own pip, from the wheel Debian ships for ensurepip.

    ensurepip installs pip and setuptools and byte-compiles both: 3.6 s of every cold
    release. This venv only runs `pip wheel`, whose builds get their setuptools from
    the wheelhouse in isolation, so pip alone is installed, by itself and uncompiled
    (1.4 s). Without Debian's wheel (python3-pip-whl), ensurepip does it as before.
    """
    wheels = sorted(place.host_path(DEBIAN_WHEELS).glob("pip-*.whl"))
    if not wheels:
        place.run([target.interpreter, "-m", "venv", staging], log=log, network=False)
        return
    pip = Path(DEBIAN_WHEELS) / wheels[-1].name
    place.run([target.interpreter, "-m", "venv", "--without-pip", staging], log=log, network=False)
    python = staging / "bin" / "python"
    install = ["install", "--no-index", "--no-deps", "--no-compile", "--no-warn-script-location"]
    place.run([python, pip / "pip", *install, pip], log=log, network=False)


@dataclass(frozen=True)
class Toolchain:
    """How sdists are compiled: the target's pip, offline, from one directory of wheels."""

    place: Place
    python: Path
    find_links: Path
    constraints: Path
    source_date_epoch: int
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """What pip's environment adds to the place's own."""
        return dict(
            {
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": str(self.find_links),
                "PIP_CONSTRAINT": str(self.constraints),
                "PIP_NO_CACHE_DIR": "1",
                "SOURCE_DATE_EPOCH": str(self.source_date_epoch),
                # Python's own CFLAGS carry -g: without -g0 every compiled module ships its
                # debug information into the wheelhouse and every venv (a third of a venv's
                # .deb for keystone).
                "CFLAGS": "-g0",
                "CXXFLAGS": "-g0",
                **self.extra_env,
            }
        )


def build_wheel(
    sdist: Path, name: str, version: Version, toolchain: Toolchain, output: Path, log: Path
) -> Path:
    """Build one sdist with no network; the wheel appears in `output` only when complete."""
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=output))
    command: list[str | os.PathLike[str]] = [toolchain.python, "-m", "pip", "wheel"]
    command += ["--no-deps", "--use-pep517", "--wheel-dir", scratch, sdist]
    try:
        toolchain.place.run(
            command, log=log, env=toolchain.environment(), network=False, timeout=3600
        )
        built = _the_wheel(scratch, name, version, log)
        final = output / built.name
        built.replace(final)
        return final
    except CommandFailed as error:
        raise WheelBuildFailed(failure_cause(error.tail), log) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _the_wheel(directory: Path, name: str, version: Version, log: Path) -> Path:
    wheels = list(directory.glob("*.whl"))
    for wheel in wheels:
        wheel_name, wheel_version, _build, _tags = parse_wheel_filename(wheel.name)
        if wheel_name == canonicalize_name(name) and wheel_version == version:
            return wheel
    raise WheelBuildFailed(f"build produced {[w.name for w in wheels]}, not {name} {version}", log)


# Lines that say why a build failed, best first; pip's own wrap-up lines say nothing.
CAUSES = [
    re.compile(r"fatal error: .*"),
    re.compile(r"Cannot install .* because these package versions have conflicting.*"),
    re.compile(r"(?:Could not find|ERROR: Could not find|No matching distribution).*"),
    re.compile(r"(?:ModuleNotFoundError|ImportError|FileNotFoundError|OSError|RuntimeError): .*"),
    re.compile(
        r"error: (?!subprocess-exited-with-error|metadata-generation-failed|"
        r"legacy-install-failure|command .* failed).*"
    ),
    re.compile(r"(?<!note: )\S*(?:Error|Exception): .*"),
]


def failure_cause(tail: list[str]) -> str:
    """The most telling line of a failed build's output."""
    for pattern in CAUSES:
        for line in reversed(tail):
            match = pattern.search(line)
            if match:
                return match.group(0).strip()[:200]
    return tail[-1].strip()[:200] if tail else "build failed"
