"""Shared fixtures: a local package index of wheels and sdists the tests build themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import packages, project
from venvpkg.release.plan import INSTALLER

DATA = Path(__file__).parent / "data"
# Where `./bootstrap.sh test` puts the uv wheel venvpkg pins (PyPI's real one).
UV_WHEELS = Path(sys.prefix) / "share/venvpkg-tests"


def uv_wheel() -> Path:
    """The pinned uv wheel: builds install with it, as they do from PyPI's index."""
    name, version = INSTALLER
    found = sorted(UV_WHEELS.glob(f"{name}-{version}-*.whl"))
    if not found:
        pytest.exit(f"no {name} {version} wheel in {UV_WHEELS}: run ./bootstrap.sh test", 2)
    return found[0]


def build_fixture_files(files: Path) -> None:
    """Every distribution the fixture series pins, plus a project and a build backend."""
    files.mkdir(parents=True, exist_ok=True)
    packages.backend_wheel(files, "1.0")
    packages.backend_wheel(files, "2.0")  # excluded by build-constraints.txt (<2)
    packages.make_wheel(files, "fixlib-a", "1.0", {"fixlib_a/__init__.py": "VALUE = 'a1'\n"})
    packages.make_wheel(files, "fixlib-a", "1.1", {"fixlib_a/__init__.py": "VALUE = 'a11'\n"})
    packages.make_wheel(files, "fixlib-unused", "1.0", {"fixlib_unused.py": ""})
    packages.make_wheel(files, "fixlint", "1.0", {"fixlint.py": ""})
    packages.make_wheel(files, "fixlib-transitive", "3.0", {"fixlib_transitive.py": "X = 3\n"})
    packages.make_sdist(
        files,
        "fixlib-b",
        "1.0",
        {"fixlib_b/__init__.py": "from fixlib_a import VALUE\n"},
        requires=("fixlib-a", "fixlib-transitive"),
    )
    packages.make_sdist(
        files,
        "fixlib-c",
        "2.0",
        {},
        extensions={"fixlib_c": packages.C_MODULE % {"name": "fixlib_c"}},
    )
    packages.make_sdist(
        files, "fixlib-broken", "1.0", {}, extensions={"fixlib_broken": packages.BROKEN_C}
    )
    packages.make_sdist(
        files,
        "fixlib-dynamic",
        "1.0",
        {"fixlib_dynamic.py": ""},
        requires=("fixlib-a",),
        dynamic_requires=True,
    )
    packages.make_sdist(
        files,
        "fixproj",
        "1.0",
        {"fixproj/__init__.py": "import fixlib_b, fixlib_c\n"},
        requires=("fixlib-b", "fixlib-c"),
        scripts={"fixproj-manage": "fixproj:main"},
    )
    project.build(files)
    # A deliverable published as python-fixwatch, and strangers holding look-alike names.
    opendev = "Project-URL: Source Code, https://opendev.org/openstack/fixwatch\n"
    packages.make_sdist(files, "python-fixwatch", "1.0", {"fixwatch.py": ""}, metadata=opendev)
    stranger = "Home-page: https://github.com/someone/fixwatch/\n"
    packages.make_sdist(files, "fixwatch", "1.0", {"fixwatch.py": ""}, metadata=stranger)
    packages.make_sdist(files, "fixvenus", "1.0", {"fixvenus.py": ""})
    shutil.copy2(uv_wheel(), files)


@pytest.fixture(scope="session")
def index_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = tmp_path_factory.mktemp("index") / "files"
    build_fixture_files(files)
    return files


@pytest.fixture(scope="session")
def index_url(index_files: Path) -> Iterator[str]:
    packages.write_index(index_files, index_files.parent)
    with packages.serve(index_files.parent) as url:
        yield url


@pytest.fixture(scope="session")
def pip_index_url(index_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same index without uv, as a mirror that lacks it: builds install with pip."""
    root = tmp_path_factory.mktemp("pip-index")
    shutil.copytree(index_files, root / "files", ignore=shutil.ignore_patterns("uv-*.whl"))
    packages.write_index(root / "files", root)
    with packages.serve(root) as url:
        yield url


@pytest.fixture
def requirements_dir(tmp_path: Path) -> Path:
    """A writable copy of the fixture requirements branch."""
    target = tmp_path / "requirements"
    shutil.copytree(DATA / "requirements-2025.2", target)
    return target


def venvpkg(
    *args: str,
    workdir: Path,
    index: str | None = None,
    check: bool = True,
    timeout: int = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a user would."""
    command = [sys.executable, "-m", "venvpkg", "--workdir", str(workdir)]
    if index:
        command += ["--index-url", index]
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PIP_", "VENVPKG_")) and k != "SOURCE_DATE_EPOCH"
        },
        # The fixture series is built for this host's release unless a test says otherwise.
        "VENVPKG_TARGET": "bookworm",
        **(env or {}),
    }
    result = subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"venvpkg {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def install_lock_offline(wheelhouse: Path, venv: Path) -> dict[str, str]:
    """Install a wheelhouse's requirements.lock into a new venv with no index; return its env."""
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    env = {"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"}
    lock = wheelhouse / "requirements.lock"
    subprocess.run(
        [
            str(venv / "bin/pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--require-hashes",
            "-r",
            str(lock),
        ],
        check=True,
        env=env,
    )
    return env


def release_fixsvc(workdir: Path, index_url: str) -> Path:
    """Make `workdir` hold the fixture series' requirements package with fixsvc's closure."""
    run_release_fixsvc(workdir, index_url)
    return workdir


def run_release_fixsvc(workdir: Path, index_url: str) -> subprocess.CompletedProcess[str]:
    """release_fixsvc's run itself, for a test that reads what it said."""
    requirements = workdir / "requirements"
    shutil.copytree(DATA / "requirements-2025.2", requirements)
    return venvpkg(
        "release",
        "2025.2",
        "--requirements",
        str(requirements),
        "--projects",
        "fixsvc==1.0",
        workdir=workdir,
        index=index_url,
    )


def commit_tree(directory: Path, date: str, branch: str = "master") -> None:
    """Make `directory` a git repository whose one commit carries `date` (ISO 8601)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for command in (
        ["git", "init", "-q", "-b", branch],
        ["git", "add", "."],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pins"],
    ):
        subprocess.run(command, cwd=directory, env=env, check=True)
