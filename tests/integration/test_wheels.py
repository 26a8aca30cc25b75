"""Compiling sdists in shared build environments, for real and offline: the wheels are
the ones pip builds in isolation, and a build that fails says why in one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.version import Version

from venvpkg import targets
from venvpkg.places import HOST
from venvpkg.release import wheels
from venvpkg.workdir import Workdir

BOOKWORM = targets.lookup("bookworm")
pytestmark = pytest.mark.skipif(
    not targets.host_is(BOOKWORM), reason="builds with the host's Python for bookworm"
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def toolchain(index_files: Path, tmp_path: Path) -> wheels.Toolchain:
    python = wheels.build_environment(BOOKWORM, Workdir(tmp_path / "work"), HOST)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("fixture-backend==1.0\nfixlib-a==1.0\nfixlib-transitive==3.0\n")
    return wheels.Toolchain(HOST, python, index_files, constraints, 1_700_000_000)


@pytest.mark.parametrize(("name", "version"), [("fixlib-b", "1.0"), ("fixlib-c", "2.0")])
def test_a_shared_build_makes_the_wheel_pip_makes_in_isolation(
    name: str, version: str, index_files: Path, toolchain: wheels.Toolchain, tmp_path: Path
) -> None:
    sdist = index_files / f"{name.replace('-', '_')}-{version}.tar.gz"
    environments = wheels.SharedEnvironments(toolchain, BOOKWORM, tmp_path / "envs")
    requires = wheels.build_requires(sdist)
    shared_out, pip_out = tmp_path / "shared", tmp_path / "pip"
    shared_out.mkdir()
    pip_out.mkdir()
    log = tmp_path / "shared.log"
    shared = wheels.build_wheel_shared(
        sdist, name, Version(version), requires, environments, shared_out, log
    )
    isolated = wheels.build_wheel(
        sdist, name, Version(version), toolchain, pip_out, tmp_path / "pip.log"
    )
    assert shared.name == isolated.name
    assert _digest(shared) == _digest(isolated)
    assert "building in isolation" not in log.read_text()
    # Nothing but the wheel is left in the output directory.
    assert [p.name for p in shared_out.iterdir()] == [shared.name]


def test_a_build_that_fails_shared_and_isolated_names_the_compiler_error(
    index_files: Path, toolchain: wheels.Toolchain, tmp_path: Path
) -> None:
    sdist = index_files / "fixlib_broken-1.0.tar.gz"
    environments = wheels.SharedEnvironments(toolchain, BOOKWORM, tmp_path / "envs")
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "build.log"
    with pytest.raises(wheels.WheelBuildFailed) as failed:
        wheels.build_wheel_shared(
            sdist, "fixlib-broken", Version("1.0"), ["fixture-backend"], environments, out, log
        )
    assert "error" in failed.value.message
    assert "building in isolation" in log.read_text()
    assert list(out.iterdir()) == []
