"""Clean chroot builds for real: mmdebstrap, sbuild in unshare mode, lintian.

The chroot comes from the Debian mirror (as apt's packages do) and is made once per
session; every test links it into its own workdir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import release_fixsvc, run_release_fixsvc, venvpkg
from venvpkg.release.plan import INSTALLER

FIXSVC_PACKAGES = ("fixsvc-api", "fixsvc-engine", "fixsvc-common", "python3-fixsvc", "venv-fixsvc")
ARGS = ("fixsvc", "--series", "2025.2", "--version", "1.0", "--dist", "bookworm")
pytestmark = pytest.mark.skipif(
    shutil.which("sbuild") is None or shutil.which("mmdebstrap") is None,
    reason="needs sbuild and mmdebstrap (./bootstrap.sh installs them)",
)


@pytest.fixture(scope="session")
def chroots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("chroot")
    listed = venvpkg("chroot", "create", "bookworm", "--json", workdir=workdir, timeout=1800)
    records = json.loads(listed.stdout)
    assert [r["dist"] for r in records] == ["bookworm"]
    assert Path(records[0]["tarball"]).is_file()
    return workdir / "chroots"


@pytest.fixture(scope="module")
def released(index_url: str, chroots: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = release_fixsvc(tmp_path_factory.mktemp("sbuild"), index_url)
    (workdir / "chroots").symlink_to(chroots)
    return workdir


def test_two_sbuild_builds_are_bit_identical_and_a_rerun_is_cached(
    released: Path, index_url: str
) -> None:
    result = venvpkg(
        "build", *ARGS, "--verify-reproducible", "--json", workdir=released, index=index_url
    )
    build = json.loads(result.stdout)["builds"][0]
    assert (build["status"], build["reproducible"], build["lintian"]) == (
        "built",
        "identical",
        "clean",
    )
    names = sorted(Path(d).name.split("_")[0] for d in build["debs"])
    assert names == sorted(FIXSVC_PACKAGES)
    (venv,) = [Path(d) for d in build["debs"] if Path(d).name.startswith("venv-fixsvc_")]
    assert _installer(venv) == "uv"  # the requirements package carries it
    out = released / "debs" / "bookworm-2025.2"
    assert list(out.glob("venv-fixsvc_*.buildinfo"))

    began = time.monotonic()
    rerun = venvpkg("build", *ARGS, "--json", workdir=released, index=index_url)
    again = json.loads(rerun.stdout)["builds"][0]
    assert again["status"] == "cached" and again["debs"] == build["debs"]
    assert time.monotonic() - began < 5


def _installer(deb: Path, project: str = "fixsvc") -> str:
    """What installed the project into the venv, as its dist-info records it."""
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True)
    (member,) = re.findall(rf"(\./\S+/{project}-[^/]+\.dist-info/INSTALLER)$", listing.stdout, re.M)
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True)
    found = subprocess.run(
        ["tar", "-xO", member], input=tar.stdout, capture_output=True, check=True
    )
    return found.stdout.decode().strip()


def test_without_uv_on_the_index_the_venv_installs_with_pip(
    pip_index_url: str, chroots: Path, tmp_path: Path
) -> None:
    """A mirror that lacks the pinned uv wheel still gets its packages, built with pip."""
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "chroots").symlink_to(chroots)
    released = run_release_fixsvc(workdir, pip_index_url)
    assert f"{INSTALLER[0]} {INSTALLER[1]} has no wheel for bookworm" in released.stderr
    result = venvpkg("build", *ARGS, "--json", workdir=workdir, index=pip_index_url)
    build = json.loads(result.stdout)["builds"][0]
    assert (build["status"], build["lintian"]) == ("built", "clean")
    (venv,) = [Path(d) for d in build["debs"] if Path(d).name.startswith("venv-fixsvc_")]
    assert _installer(venv) == "pip"


def test_a_build_that_reaches_for_the_network_fails_and_leaves_nothing(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    rules = resources.files("venvpkg.templates").joinpath("debian/rules.j2").read_text()
    # The test index serves on this host's 127.0.0.1; inside the build's namespace only an
    # empty loopback exists, so this fetch fails exactly as one to PyPI would.
    probe = f"python3 -c \"import urllib.request; urllib.request.urlopen('{index_url}')\""
    (site / "rules.j2").write_text(rules + f"\noverride_dh_auto_configure:\n\t{probe}\n")
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[debianize]\ntemplates = "{site}"\n')
    before = sorted(p.name for p in (released / "debs" / "bookworm-2025.2").iterdir())
    failed = venvpkg(
        "build", *ARGS, "--config", str(config), workdir=released, index=index_url, check=False
    )
    assert failed.returncode != 0
    assert "venv-fixsvc-1.0 failed in sbuild at stage build" in failed.stderr
    assert "sbuild.log" in failed.stderr and "Traceback" not in failed.stderr
    assert len(failed.stderr.splitlines()) < 30
    after = sorted(p.name for p in (released / "debs" / "bookworm-2025.2").iterdir())
    assert after == before


def test_a_build_killed_in_sbuild_is_cleared_and_finished_by_a_rerun(
    released: Path, index_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # sbuild's namespace must pass through every directory above it; pytest's are closed.
    scratch = Path(tempfile.mkdtemp(prefix="venvpkg-test-", dir="/var/tmp"))
    scratch.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[build]\nscratch = "{scratch}"\n')
    where = ("--workdir", str(released), "--index-url", index_url, "--config", str(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VENVPKG_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "venvpkg", *where, "build", *ARGS, "--rebuild"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not list(scratch.glob("venvpkg-sbuild-*/chroot.*/etc")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # What the kill left: sbuild's half-unpacked chroot and the build's own directory.
    assert list(scratch.glob("venvpkg-sbuild-*/chroot.*/etc"))
    assert list((released / "tmp").glob("venvpkg-build-*"))

    done = venvpkg(
        "build", *ARGS, "--config", str(config), "--json", workdir=released, index=index_url
    )
    assert json.loads(done.stdout)["builds"][0]["status"] == "built"
    assert list(scratch.iterdir()) == []
    assert list((released / "tmp").glob("venvpkg-*")) == []


def test_a_scratch_place_sbuild_cannot_enter_is_one_line(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[build]\nscratch = "{tmp_path / "scratch"}"\n')
    failed = venvpkg(
        "build", *ARGS, "--rebuild", "--config", str(config), workdir=released, index=index_url,
        check=False,
    )  # fmt: skip
    assert failed.returncode == 2 and "is closed to other users" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr and len(failed.stderr.splitlines()) < 5


def test_an_unreachable_mirror_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text('[chroot]\nmirror = "http://127.0.0.1:9/debian"\n')
    failed = venvpkg(
        "chroot", "create", "bookworm", "--config", str(config), workdir=tmp_path, check=False
    )
    assert failed.returncode == 4
    assert "mirror http://127.0.0.1:9/debian unreachable" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not list((tmp_path / "chroots").glob("*"))


def test_a_corrupt_chroot_tarball_is_refused(
    released: Path, index_url: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    shutil.copytree(released, workdir, symlinks=False, ignore=shutil.ignore_patterns("*.tar"))
    chroots = workdir / "chroots"
    record = json.loads((chroots / "bookworm-amd64.json").read_text())
    (chroots / "bookworm-amd64.tar").write_bytes(b"not the tarball that was recorded")
    (chroots / "bookworm-amd64.json").write_text(json.dumps(record))
    # A fresh revision so the build is not skipped as cached.
    config = tmp_path / "venvpkg.toml"
    config.write_text('[projects.fixsvc]\ndepends = ["adduser"]\n')
    failed = venvpkg(
        "build", *ARGS, "--config", str(config), workdir=workdir, index=index_url, check=False
    )
    assert failed.returncode != 0
    assert "chroot tarball" in failed.stderr and "is corrupt" in failed.stderr
    assert "venvpkg chroot update bookworm" in failed.stderr
    assert os.path.getsize(chroots / "bookworm-amd64.tar") == 33


def test_an_unknown_dist_is_one_line(tmp_path: Path) -> None:
    failed = venvpkg("chroot", "create", "bookwrom", workdir=tmp_path, check=False)
    assert failed.returncode == 2
    # Named before any mirror is asked: venvpkg builds only for the releases it targets.
    assert "unknown target 'bookwrom'; did you mean bookworm?" in failed.stderr
    assert "Traceback" not in failed.stderr and not (tmp_path / "chroots").exists()
