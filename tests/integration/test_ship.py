"""publish, test, promote and rollback for real: reprepro, gpg, mmdebstrap, apt, autopkgtest.

The fixture project is built on the host (fast); every test of the packages happens in a
throwaway chroot that trusts only the repository's key.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import release_fixsvc, venvpkg

ARGS = ("fixsvc", "--series", "2025.2", "--version", "1.0", "--dist", "bookworm")
WHERE = ("--dist", "bookworm", "--series", "2025.2")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the host build installs its Build-Depends"),
    pytest.mark.skipif(shutil.which("reprepro") is None, reason="needs reprepro"),
]


@pytest.fixture(scope="module")
def built(index_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = release_fixsvc(tmp_path_factory.mktemp("ship"), index_url)
    venvpkg("build", *ARGS, "--backend", "host", workdir=workdir, index=index_url)
    yield workdir
    subprocess.run(["dpkg", "--purge", "openstack-requirements-2025.2"], capture_output=True)


def _json(*args: str, workdir: Path, index: str | None = None) -> dict:
    return json.loads(venvpkg(*args, "--json", workdir=workdir, index=index).stdout)


def _production(workdir: Path) -> dict[str, str]:
    out = subprocess.run(
        ["reprepro", "-b", str(workdir / "repo"), "list", "bookworm-2025.2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[1]: line.split()[2] for line in out.splitlines() if line.strip()}


def _release_record(workdir: Path) -> dict:
    return json.loads((workdir / "debs" / "bookworm-2025.2" / "release.json").read_text())


def test_publish_signs_and_is_idempotent(built: Path) -> None:
    # release packs without lintian; the first publish checks and records it.
    assert _release_record(built)["lintian"] == ""
    first = _json("publish", *WHERE, workdir=built)
    assert _release_record(built)["lintian"] == "clean"
    assert (built / "logs" / "release-bookworm-2025.2" / "pack-lintian.log").is_file()
    assert first["codename"] == "bookworm-2025.2-staging"
    assert "venv-fixsvc 90:1.0-1+deb12 (amd64)" in first["added"]
    assert "venv-fixsvc 90:1.0-1+deb12 (source)" in first["added"]
    repo = built / "repo"
    inrelease = repo / "dists" / "bookworm-2025.2-staging" / "InRelease"
    verified = subprocess.run(
        ["gpgv", "--keyring", str(repo / "venvpkg-archive-keyring.gpg"), str(inrelease)],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    again = _json("publish", *WHERE, workdir=built)
    assert again["added"] == [] and sorted(again["unchanged"]) == sorted(first["added"])
    status = (built / "reports" / "status.md").read_text()
    assert "| bookworm-2025.2 | fixsvc | 90:1.0-1+deb12 | - | not tested |" in status


def test_staging_passes_tests_promotes_and_rolls_back(built: Path, index_url: str) -> None:
    venvpkg("publish", *WHERE, workdir=built)
    tested = _json("test", *WHERE, workdir=built)
    steps = {s["name"]: s["ok"] for s in tested["steps"]}
    assert tested["passed"], tested["steps"]
    for name in ("apt-trusts-repository", "install", "units-valid", "venvs-read-only"):
        assert steps[name], name
    assert steps["purge"] and steps["nothing-left-after-purge"]
    assert steps["autopkgtest:venv-fixsvc"]

    promoted = _json("promote", *WHERE, workdir=built)
    assert "venv-fixsvc 90:1.0-1+deb12 (amd64)" in promoted["promoted"]
    assert _production(built)["venv-fixsvc"] == "90:1.0-1+deb12"

    # A new revision: tested as an upgrade from production, promoted, then rolled back.
    config = built / "venvpkg.toml"
    config.write_text('[projects.fixsvc]\ndepends = ["adduser"]\n')
    venvpkg(
        "build", *ARGS, "--backend", "host", "--config", str(config), workdir=built, index=index_url
    )
    venvpkg("publish", *WHERE, workdir=built)
    upgrade = _json("test", *WHERE, workdir=built)
    steps = {s["name"]: s["ok"] for s in upgrade["steps"]}
    assert upgrade["passed"], upgrade["steps"]
    assert steps["install-previous"] and steps["config-kept"] and steps["downgrade"]
    assert steps["upgrade-again"] and steps["nothing-left-after-purge"]
    venvpkg("promote", *WHERE, workdir=built)
    assert _production(built)["venv-fixsvc"] == "90:1.0-2+deb12"
    venvpkg("rollback", *WHERE, workdir=built)
    assert _production(built)["venv-fixsvc"] == "90:1.0-1+deb12"
    checked = subprocess.run(
        ["reprepro", "-b", str(built / "repo"), "checkpool"], capture_output=True, text=True
    )
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_bad_input_is_one_line_and_leaves_the_repository_alone(built: Path, tmp_path: Path) -> None:
    venvpkg("publish", *WHERE, workdir=built)
    before = sorted(p.relative_to(built / "repo") for p in (built / "repo").rglob("*"))
    stranger = tmp_path / "stranger"
    (stranger / "DEBIAN").mkdir(parents=True)
    (stranger / "DEBIAN" / "control").write_text(
        "Package: stranger\nVersion: 1\nArchitecture: all\nMaintainer: x <x@x>\nDescription: x\n"
    )
    deb = tmp_path / "stranger_1_all.deb"
    subprocess.run(["dpkg-deb", "-b", str(stranger), str(deb)], check=True, capture_output=True)
    cases = [
        (("publish", *WHERE, str(deb)), "is not a package venvpkg built"),
        (("promote", "--dist", "bookworm", "--series", "2024.1"), "has passed its tests"),
        (("rollback", "--dist", "trixie", "--series", "2025.2"), "unknown codename"),
    ]
    for args, message in cases:
        failed = venvpkg(*args, workdir=built, check=False)
        assert failed.returncode != 0 and message in failed.stderr, (args, failed.stderr)
        assert "Traceback" not in failed.stderr and len(failed.stderr.splitlines()) == 1
    after = sorted(p.relative_to(built / "repo") for p in (built / "repo").rglob("*"))
    assert after == before

    not_a_repo = tmp_path / "elsewhere"
    not_a_repo.mkdir()
    (not_a_repo / "notes.txt").write_text("mine\n")
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[publish]\nrepository = "{not_a_repo}"\n')
    failed = venvpkg("publish", *WHERE, "--config", str(config), workdir=built, check=False)
    assert failed.returncode == 2 and "is not a reprepro repository" in failed.stderr
    assert sorted(p.name for p in not_a_repo.iterdir()) == ["notes.txt"]


def test_a_requirements_package_lintian_rejects_is_not_published(
    built: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "work"
    shutil.copytree(built, copy, symlinks=True)
    record = _release_record(copy)
    deb = copy / "debs" / "bookworm-2025.2" / record["deb"]
    # A bare package: no copyright, no changelog, which lintian rejects.
    bare = tmp_path / "bare"
    (bare / "DEBIAN").mkdir(parents=True)
    (bare / "DEBIAN" / "control").write_text(
        f"Package: {record['package']}\nVersion: {record['version']}\nArchitecture: all\n"
        "Maintainer: x <x@example.org>\nDescription: x\n"
    )
    subprocess.run(["dpkg-deb", "-b", str(bare), str(deb)], check=True, capture_output=True)
    (copy / "debs" / "bookworm-2025.2" / "release.json").write_text(
        json.dumps(record | {"lintian": ""})
    )
    shutil.rmtree(copy / "repo", ignore_errors=True)
    failed = venvpkg("publish", *WHERE, workdir=copy, check=False)
    assert failed.returncode != 0 and "lintian rejects" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (copy / "repo" / "pool").exists()
    assert _release_record(copy)["lintian"] == ""


def test_testing_or_rolling_back_before_any_publish_leaves_no_key_or_repository(
    tmp_path: Path,
) -> None:
    fresh = tmp_path / "fresh"
    for args, why in (
        (("test", "fixsvc", *WHERE), "nothing is published"),
        (("rollback", *WHERE), "nothing is published"),
        (("publish", *WHERE), "nothing built"),
    ):
        failed = venvpkg(*args, workdir=fresh, check=False)
        assert failed.returncode == 2 and why in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr and len(failed.stderr.splitlines()) == 1
    assert not (fresh / "gnupg").exists() and not (fresh / "repo").exists()


def test_a_repository_holding_only_its_keyring_takes_the_first_publish(
    built: Path, tmp_path: Path
) -> None:
    # What a first publish stopped between exporting the key and running reprepro leaves.
    first, second = tmp_path / "first", tmp_path / "second"
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[publish]\nrepository = "{first}"\n')
    venvpkg("--config", str(config), "publish", *WHERE, workdir=built)
    second.mkdir()
    shutil.copy(first / "venvpkg-archive-keyring.gpg", second)
    config.write_text(f'[publish]\nrepository = "{second}"\n')
    venvpkg("--config", str(config), "publish", *WHERE, workdir=built)
    assert (second / "conf" / "distributions").exists()
    # The signing agent for venvpkg's own key does not outlive the command.
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {built}/gnupg"], check=False)
    assert agents.returncode == 1


def test_an_expired_signing_key_is_refused(built: Path, tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
         "old <old@example.org>", "ed25519", "sign", "seconds=1"],
        check=True, capture_output=True,
    )  # fmt: skip
    listing = subprocess.run(
        ["gpg", "--homedir", str(home), "--with-colons", "--list-secret-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:3] == "fpr")
    time.sleep(2)
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[publish]\nkey = "{fingerprint}"\ngnupghome = "{home}"\n')
    try:
        failed = venvpkg("publish", *WHERE, "--config", str(config), workdir=built, check=False)
    finally:
        # The test's own key home: venvpkg leaves an operator's agent alone, so we stop it.
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    assert failed.returncode == 2 and "has expired" in failed.stderr, failed.stderr


def test_publish_killed_at_any_point_is_finished_by_a_rerun(built: Path, tmp_path: Path) -> None:
    config = tmp_path / "venvpkg.toml"
    config.write_text(f'[publish]\nrepository = "{tmp_path / "repo"}"\n')
    command = [sys.executable, "-m", "venvpkg", "--workdir", str(built), "--config", str(config)]
    for delay in (0.3, 0.8, 1.5, 2.5):
        process = subprocess.Popen(
            [*command, "publish", *WHERE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = subprocess.run(
        [*command, "--json", "publish", *WHERE], capture_output=True, text=True, check=True
    )
    summary = json.loads(done.stdout)
    assert any(p.startswith("venv-fixsvc ") for p in summary["added"] + summary["unchanged"])
    checked = subprocess.run(
        ["reprepro", "-b", str(tmp_path / "repo"), "checkpool"], capture_output=True, text=True
    )
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


def test_publish_finishes_the_states_a_killed_first_publish_leaves(
    built: Path, tmp_path: Path
) -> None:
    """Found by killing publish at random points on a loaded host: killed after taking
    its lock but before conf/distributions existed, the next run called the directory
    not a repository; killed while Berkeley DB was creating packages.db, every later
    reprepro failed with "File exists" on the half-made db/__db.packages.db."""
    command = [sys.executable, "-m", "venvpkg", "--workdir", str(built)]
    for state in ("no distributions yet", "half-made database"):
        repo = tmp_path / state.replace(" ", "-")
        (repo / "db").mkdir(parents=True)
        (repo / "db" / "venvpkg.lock").touch()
        if state == "no distributions yet":
            (repo / "conf").mkdir()
        else:
            (repo / "db" / "__db.packages.db").write_bytes(b"\0" * 8192)
        config = tmp_path / f"{repo.name}.toml"
        config.write_text(f'[publish]\nrepository = "{repo}"\n')
        (repo / "venvpkg-archive-keyring.gpg").write_bytes(b"")  # written first, as publish does
        done = subprocess.run(
            [*command, "--config", str(config), "--json", "publish", *WHERE],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, (state, done.stderr)
        assert any(p.startswith("venv-fixsvc ") for p in json.loads(done.stdout)["added"])
        checked = subprocess.run(["reprepro", "-b", str(repo), "checkpool"], capture_output=True)
        assert checked.returncode == 0, (state, checked.stderr)


@pytest.mark.slow
def test_apt_refuses_a_tampered_release_file_or_deb(built: Path, tmp_path: Path) -> None:
    venvpkg("publish", *WHERE, workdir=built)
    for tamper in ("Release", "deb"):
        copy = tmp_path / f"repo-{tamper}"
        shutil.copytree(built / "repo", copy)
        if tamper == "Release":
            release = copy / "dists" / "bookworm-2025.2-staging" / "InRelease"
            release.write_text(release.read_text().replace("Label: venvpkg", "Label: evil", 1))
        else:
            deb = next((copy / "pool").rglob("fixsvc-common_*.deb"))
            deb.write_bytes(deb.read_bytes()[:-64] + b"\0" * 64)
        config = tmp_path / f"{tamper}.toml"
        config.write_text(f'[publish]\nrepository = "{copy}"\n')
        failed = venvpkg(
            "test", *WHERE, "--json", "--config", str(config), workdir=built, check=False
        )
        assert failed.returncode != 0
        steps = {s["name"]: s["ok"] for s in json.loads(failed.stdout)["steps"]}
        refused = "apt-trusts-repository" if tamper == "Release" else "install"
        assert steps[refused] is False, steps


def test_a_build_moves_to_another_workdir_whole_or_not_at_all(
    built: Path, tmp_path: Path, index_url: str
) -> None:
    bundle = tmp_path / "fixsvc.venvpkg.tar"
    (exported,) = _json("export", "fixsvc", *WHERE, "--to", str(bundle), workdir=built)
    # The newest build: the tests before this one may have rebuilt fixsvc 1.0.
    builds = sorted((built / "debs" / "bookworm-2025.2" / "builds").glob("venv-fixsvc_1.0-*.json"))
    version = exported["version"]
    assert f"venv-fixsvc_{version.removeprefix('90:')}.json" == builds[-1].name
    revision = int(version.rsplit("-", 1)[1].split("+")[0])
    # The machine with the repository: a workdir that built nothing.
    master = tmp_path / "master"
    # Altered or cut short on the way: refused naming the file, nothing placed.
    with tarfile.open(bundle) as source, tarfile.open(tmp_path / "altered.tar", "w") as out:
        for member in source:
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("debs/fixsvc-common_"):
                data = data[:-8] + b"\0" * 8
            out.addfile(member, io.BytesIO(data))
    (tmp_path / "cut.tar").write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    for bad, said in (("altered.tar", "does not match the sha256"), ("cut.tar", "not a whole")):
        refused = venvpkg("import", str(tmp_path / bad), workdir=master, check=False)
        assert refused.returncode == 2
        last = refused.stderr.strip().splitlines()[-1]
        assert last.startswith("venvpkg: error: ") and said in last, last
        assert not (master / "debs").exists()
    (imported,) = _json("import", str(bundle), workdir=master)
    assert imported["project"] == "fixsvc" and imported["files"] == exported["files"]
    published = _json("publish", *WHERE, workdir=master)
    assert f"venv-fixsvc {version} (amd64)" in published["added"]
    assert f"venv-fixsvc {version} (source)" in published["added"]
    assert any(p.startswith("openstack-requirements-2025.2 ") for p in published["added"])
    # The worker's revision is the master's now: the next build counts on from it.
    revisions = json.loads((master / "src" / "bookworm-2025.2" / "revisions.json").read_text())
    assert revisions["fixsvc-1.0"]["revision"] == revision
    # Recorded as shipped, from the imported lock, without a build.
    shipped = _json("watch", "2025.2", "--projects", "fixsvc", "--shipped",
                    *WHERE[:2], workdir=master, index=index_url)  # fmt: skip
    assert shipped == [{"codename": "bookworm-2025.2", "project": "fixsvc", "version": "1.0"}]
    record = json.loads((master / "watch" / "bookworm-2025.2.json").read_text())
    assert record["projects"]["fixsvc"]["pins"]["fixlib-a"].startswith("1.0 ")
