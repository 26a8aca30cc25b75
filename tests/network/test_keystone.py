"""Against real PyPI: the 2025.2 closure of keystone on bookworm (run with -m network)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import install_lock_offline, venvpkg

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_keystone_closure_installs_offline_from_the_package(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    result = venvpkg(
        "release", "2025.2", "--projects", "keystone", "--json", workdir=workdir, timeout=3600
    )
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0 and summary["pins"] > 80
    deb = Path(summary["package"])
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    wheels = root / "usr/lib/venvpkg/wheelhouse/2025.2"
    venv = tmp_path / "venv"
    env = install_lock_offline(wheels, venv)
    # keystone itself builds offline from the same wheelhouse (its build requirements are in it).
    subprocess.run(
        [
            str(venv / "bin/pip"),
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(tmp_path / "src"),
            "keystone==28.0.2",
        ],
        check=True,
        env={**env, "PIP_INDEX_URL": "https://pypi.org/simple"},
    )
    sdist = next((tmp_path / "src").glob("keystone-*.tar.gz"))
    subprocess.run(
        [
            str(venv / "bin/pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "--no-deps",
            str(sdist),
        ],
        check=True,
        env=env,
    )
    out = subprocess.run(
        [str(venv / "bin/keystone-manage"), "--version"], capture_output=True, text=True, check=True
    )
    assert "28.0.2" in out.stdout + out.stderr
