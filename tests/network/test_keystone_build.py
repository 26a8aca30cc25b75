"""Against real PyPI: venv-keystone for 2025.2 on bookworm, built, installed and run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import venvpkg
from venvpkg.sysdeps import APT_WAIT

pytestmark = [
    pytest.mark.network,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages on this host"),
]
KEYSTONE = ("keystone", "--series", "2025.2", "--dist", "bookworm")


def test_keystone_builds_offline_installs_and_answers(tmp_path: Path) -> None:
    venvpkg("release", "2025.2", "--projects", "keystone", workdir=tmp_path, timeout=1800)
    result = venvpkg("build", *KEYSTONE, "--json", workdir=tmp_path, timeout=3600)
    built = json.loads(result.stdout)["builds"][0]
    assert built["status"] == "built"
    assert built["lintian"] == "clean"
    names = sorted(Path(d).name.split("_")[0] for d in built["debs"])
    assert names == ["keystone", "python3-keystone", "venv-keystone"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", *APT_WAIT, "install", "-y", *built["debs"]], check=True, env=env)
        help_text = subprocess.run(
            ["/usr/bin/keystone-manage", "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert "db_sync" in help_text
        conf = Path("/etc/keystone/keystone.conf")
        assert oct(conf.stat().st_mode & 0o777) == "0o640"
        assert "[database]" in conf.read_text()
        lock = Path("/opt/venvs/keystone/share/venvpkg/requirements.lock").read_text()
        assert "python-memcached==" in lock and "ldappool==" in lock
    finally:
        subprocess.run(
            ["dpkg", "--purge", "keystone", "python3-keystone", "venv-keystone"], check=False
        )
