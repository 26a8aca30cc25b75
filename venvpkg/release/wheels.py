"""Stage 1b: turn sdists into wheels for the target's Python, strictly offline."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import tomllib
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version
from pyproject_hooks import BuildBackendHookCaller

from venvpkg import metadata
from venvpkg.errors import CommandFailed, VenvpkgError
from venvpkg.places import Place
from venvpkg.targets import Target
from venvpkg.workdir import Workdir

# Part of the built-wheel cache key: a change to how sdists are compiled rebuilds them.
BUILD_RECIPE = "g1"
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


def _build_system(pyproject: str) -> dict[str, Any]:
    """pyproject.toml's [build-system] table; an unreadable file declares none."""
    try:
        return dict(tomllib.loads(pyproject).get("build-system", {}))
    except tomllib.TOMLDecodeError:
        return {}


def build_requires(sdist: Path) -> list[str]:
    """The build-system requirements an sdist declares (PEP 518), or the legacy default."""
    members = metadata.sdist_members(sdist, _build_file)
    requires: list[str] = []
    if "pyproject.toml" in members:
        text = members["pyproject.toml"].decode("utf-8", "replace")
        requires = list(_build_system(text).get("requires", []))
    if not requires:
        requires = list(LEGACY_BUILD_REQUIRES)
    if "setup.py" in members:
        match = SETUP_REQUIRES.search(members["setup.py"].decode("utf-8", "replace"))
        if match:
            requires += re.findall(r"['\"]([^'\"]+)['\"]", match.group(1))
    return requires


# One maker at a time in this process: the background start and a build may both ask.
_MAKING = threading.Lock()


def build_environment(target: Target, workdir: Workdir, place: Place) -> Path:
    """A venv of the target's own interpreter that runs `pip wheel`; created once, offline."""
    home = workdir.build_tools(target.name, target.python)
    python = home / "bin" / "python"
    with _MAKING:
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
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (home / "pyvenv.cfg").exists():
                raise
            # Another venvpkg on this workdir made it first.
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return python


def start_build_environment(target: Target, workdir: Workdir, place: Place) -> None:
    """Make the build venv in the background (1.4 s of a cold release of keystone's
    closure) while the plan waits on the index. A failure here is not reported: the
    build's own call makes it again and says why."""

    def make() -> None:
        with contextlib.suppress(Exception):
            build_environment(target, workdir, place)

    threading.Thread(target=make, name="build-environment").start()


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


class SharedEnvironments:
    """One build environment per set of build requirements, shared by every sdist that
    declares that set, and the backend called in it directly through pyproject_hooks.

    `pip wheel` builds each sdist in a fresh isolated environment: a second pip resolves
    and installs setuptools into it, then egg_info and bdist_wheel run in two more
    interpreters. For the 40 of 2025.2's 49 sdists that need only setuptools and wheel,
    that is 2.5-3 s of a 0.35 s build. The environment holds what pip would install for
    that set (the same pins, from the same wheels) and nothing else, so the wheel is the
    same; a build that fails in it (a backend asking for more at run time) is retried
    the old way, with pip in isolation, whose error is the one reported.
    """

    def __init__(self, toolchain: Toolchain, target: Target, root: Path) -> None:
        self.toolchain, self.target, self.root = toolchain, target, root
        self._made: dict[tuple[str, ...], Path] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._guard = threading.Lock()

    def python(self, requires: list[str], log: Path) -> Path:
        """The interpreter of the environment for `requires`, made on first use."""
        key = tuple(sorted(set(requires)))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._made:
                self._made[key] = self._make(key, log)
        return self._made[key] / "bin" / "python"

    def _make(self, requires: tuple[str, ...], log: Path) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix="env-", dir=self.root))
        place, version = self.toolchain.place, self.target.python
        place.run(
            [self.target.interpreter, "-m", "venv", "--without-pip", home],
            log=log,
            network=False,
        )
        site = home / "lib" / f"python{version[0]}.{version[1]}" / "site-packages"
        install = ["install", "--target", str(site), "--no-compile", "--no-warn-script-location"]
        place.run(
            [self.toolchain.python, "-m", "pip", *install, *requires],
            log=log,
            env=self.toolchain.environment(),
            network=False,
        )
        return home

    def build(self, sdist: Path, requires: list[str], scratch: Path, log: Path) -> Path:
        """The wheel of `sdist` built in the shared environment, in `scratch`."""
        python = self.python(requires, log)
        source = _unpack(sdist, scratch / "src")
        backend, backend_path = _backend(source)
        caller = BuildBackendHookCaller(
            str(source),
            backend,
            backend_path,
            python_executable=str(python),
            runner=_HookRunner(self.toolchain, scratch, log),
        )
        # pip asks for the metadata first and hands it to build_wheel; setuptools then
        # reuses it instead of writing its own (pbr adds pbr.json only to the latter).
        metadata = scratch / "metadata"
        built = scratch / "dist"
        metadata.mkdir()
        built.mkdir()
        info = caller.prepare_metadata_for_build_wheel(str(metadata))
        return built / caller.build_wheel(str(built), metadata_directory=str(metadata / info))


class _HookRunner:
    """Runs pyproject_hooks' in-process script in the place, offline.

    pyproject_hooks keeps that script in its own package and its control files in the
    host's temporary directory, neither of which a target's root sees: both are copied
    under `scratch`, on the workdir, which every place shares.
    """

    def __init__(self, toolchain: Toolchain, scratch: Path, log: Path) -> None:
        self.toolchain, self.scratch, self.log = toolchain, scratch, log

    def __call__(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        python, script, hook, control = cmd
        inside = Path(tempfile.mkdtemp(prefix="hook-", dir=self.scratch))
        shutil.copyfile(script, inside / "_in_process.py")
        shutil.copyfile(Path(control) / "input.json", inside / "input.json")
        self.toolchain.place.run(
            [python, inside / "_in_process.py", hook, inside],
            log=self.log,
            env={**self.toolchain.environment(), **(extra_environ or {})},
            network=False,
            timeout=3600,
            cwd=Path(cwd) if cwd else None,
        )
        # Backend warnings go to the build's log, not re-raised on venvpkg's terminal.
        answer = json.loads((inside / "output.json").read_text())
        with self.log.open("a") as out:
            for warning in answer.pop("warnings", []):
                out.write(f"warning: {warning.get('message')}\n")
        (Path(control) / "output.json").write_text(json.dumps(answer))


def _unpack(sdist: Path, into: Path) -> Path:
    """An sdist's tree; members that would land outside it are refused."""
    into.mkdir(parents=True)
    if zipfile.is_zipfile(sdist):  # by content, as metadata.sdist_members reads them
        with zipfile.ZipFile(sdist) as archive:
            archive.extractall(into)  # zipfile drops absolute and parent parts itself
    else:
        with tarfile.open(sdist) as archive:
            if hasattr(tarfile, "data_filter"):
                try:
                    archive.extractall(into, filter="data")
                except tarfile.TarError as error:  # the filter's refusals are TarErrors
                    message = f"unsafe sdist {sdist.name}: {error}"
                    raise VenvpkgError(message, "report it upstream") from None
            else:
                _refuse_escapes(archive)
                archive.extractall(into)
    _modes_as_pip_sets_them(into)
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise VenvpkgError(f"{sdist.name} does not unpack to one directory", "report it upstream")
    return tops[0]


def _modes_as_pip_sets_them(tree: Path) -> None:
    """pip unpacks an sdist with 0644, or 0755 where any execute bit was set, whatever the
    archive says, and setuptools copies those modes into the wheel: the same here, so the
    wheel is the one pip builds (pykmip's server.key is 0664 in its sdist)."""
    for path in tree.rglob("*"):
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o111
        path.chmod(0o755 if executable else 0o644)


def _refuse_escapes(archive: tarfile.TarFile) -> None:
    """Python without tarfile's data filter (3.11.2 outside Debian): do its main checks."""
    for member in archive.getmembers():
        names = [member.name] + ([member.linkname] if member.issym() or member.islnk() else [])
        for name in names:
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts or member.isdev():
                raise VenvpkgError(f"unsafe member {name!r} in an sdist", "report it upstream")


# What pip calls for a project that names no backend (PEP 517's fallback).
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


def _backend(source: Path) -> tuple[str, list[str] | None]:
    """The backend an sdist names in pyproject.toml, and its in-tree path, if any."""
    pyproject = source / "pyproject.toml"
    system = _build_system(pyproject.read_text(errors="replace")) if pyproject.is_file() else {}
    return system.get("build-backend") or LEGACY_BACKEND, system.get("backend-path")


def build_wheel_shared(
    sdist: Path,
    name: str,
    version: Version,
    requires: list[str],
    environments: SharedEnvironments,
    output: Path,
    log: Path,
) -> Path:
    """Build one sdist in its shared environment, else in isolation as `build_wheel` does;
    the wheel appears in `output` only when complete."""
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=output))
    try:
        built = environments.build(sdist, requires, scratch, log)
        _the_wheel(built.parent, name, version, log)
        final = output / built.name
        built.replace(final)
        return final
    except Exception as error:  # any failure there: pip in isolation decides
        with log.open("a") as out:
            out.write(f"# shared build environment failed ({error!r}); building in isolation\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return build_wheel(sdist, name, version, environments.toolchain, output, log)


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
