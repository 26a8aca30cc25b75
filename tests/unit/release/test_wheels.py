from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tests.fixtures import packages
from venvpkg import metadata
from venvpkg.errors import VenvpkgError
from venvpkg.release import wheels as wheelbuild


def test_build_requires_read_from_pyproject(tmp_path: Path) -> None:
    sdist = packages.make_sdist(
        tmp_path, "demo", "1.0", {"demo.py": ""}, backend="fixture-backend>=1.0"
    )
    assert wheelbuild.build_requires(sdist) == ["fixture-backend>=1.0"]


def test_legacy_sdist_gets_setuptools_wheel_and_its_setup_requires(tmp_path: Path) -> None:
    import io
    import tarfile

    sdist = tmp_path / "old-1.0.tar.gz"
    setup = b"from setuptools import setup\nsetup(setup_requires=['pbr>=2.0.0'], pbr=True)\n"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("old-1.0/setup.py")
        info.size = len(setup)
        archive.addfile(info, io.BytesIO(setup))
    assert wheelbuild.build_requires(sdist) == ["setuptools>=40.8.0", "wheel", "pbr>=2.0.0"]


def test_failure_cause_prefers_the_compiler_error() -> None:
    tail = [
        "  src/x.c:1:10: fatal error: libvirt/libvirt.h: No such file or directory",
        "  compilation terminated.",
        "  error: command '/usr/bin/gcc' failed with exit code 1",
        "  error: subprocess-exited-with-error",
        "ERROR: Failed building wheel for libvirt-python",
    ]
    assert (
        wheelbuild.failure_cause(tail)
        == "fatal error: libvirt/libvirt.h: No such file or directory"
    )


def test_failure_cause_falls_back_to_a_python_error() -> None:
    tail = [
        "Traceback (most recent call last):",
        "ModuleNotFoundError: No module named 'numpy'",
        "error: subprocess-exited-with-error",
    ]
    assert wheelbuild.failure_cause(tail) == "ModuleNotFoundError: No module named 'numpy'"


def test_wheel_requires_reads_metadata(tmp_path: Path) -> None:
    wheel = packages.make_wheel(
        tmp_path, "demo", "1.0", {"demo.py": ""}, requires=("a>=1", "b; python_version<'3'")
    )
    assert [str(r) for r in metadata.wheel_requires(wheel)] == ["a>=1", 'b; python_version < "3"']


def test_zip_sdists_are_read_by_content_not_name(tmp_path: Path) -> None:
    import zipfile

    stored = tmp_path / "3f2a9c"  # the store names files by digest, with no extension
    with zipfile.ZipFile(stored, "w") as archive:
        archive.writestr("old-1.0/setup.py", "setup(setup_requires=['pbr>=1.8'])\n")
        archive.writestr("old-1.0/PKG-INFO", "Metadata-Version: 2.2\nRequires-Dist: six\n")
    assert wheelbuild.build_requires(stored) == ["setuptools>=40.8.0", "wheel", "pbr>=1.8"]
    assert metadata.sdist_requires(stored) == ["six"]


def test_failure_cause_prefers_pips_conflict_over_its_notes() -> None:
    tail = [
        "      ERROR: Cannot install Cython==3.2.1 because these package versions have "
        "conflicting dependencies.",
        "      ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/",
        "  note: This error originates from a subprocess, and is likely not a problem with pip.",
        "error: subprocess-exited-with-error",
    ]
    assert wheelbuild.failure_cause(tail).startswith("Cannot install Cython==3.2.1 because")


def _tar(path: Path, members: dict[str, tuple[int, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, (mode, data) in members.items():
            info = tarfile.TarInfo(name)
            info.mode, info.size = mode, len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_an_unpacked_sdist_has_the_modes_pip_gives_it(tmp_path: Path) -> None:
    sdist = _tar(
        tmp_path / "p-1.0.tar.gz",
        {
            "p-1.0/key.pem": (0o664, b"k"),
            "p-1.0/secret": (0o600, b"s"),
            "p-1.0/run.sh": (0o775, b"#!/bin/sh\n"),
        },
    )
    tree = wheelbuild._unpack(sdist, tmp_path / "src")
    modes = {p.name: p.stat().st_mode & 0o777 for p in tree.iterdir()}
    assert modes == {"key.pem": 0o644, "secret": 0o644, "run.sh": 0o755}


def test_an_sdist_member_outside_its_tree_is_refused(tmp_path: Path) -> None:
    sdist = _tar(tmp_path / "p-1.0.tar.gz", {"p-1.0/../../escaped": (0o644, b"x")})
    with pytest.raises(VenvpkgError):
        wheelbuild._unpack(sdist, tmp_path / "src")
    assert not (tmp_path / "escaped").exists()


def test_the_backend_is_read_from_pyproject_or_is_pips_fallback(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["flit_core"]\nbuild-backend = "flit_core.buildapi"\n'
        'backend-path = ["."]\n'
    )
    assert wheelbuild._backend(tmp_path) == ("flit_core.buildapi", ["."])
    (tmp_path / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n')
    assert wheelbuild._backend(tmp_path) == ("setuptools.build_meta:__legacy__", None)
