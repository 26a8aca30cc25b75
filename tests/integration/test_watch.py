"""`venvpkg watch` for real: a local git "opendev" (openstack/releases and
openstack/requirements) and the tests' own index stand in for upstream. Two fixture
services are watched; each change upstream must rebuild, test and promote exactly what it
touches, through the real pipeline (host builds, reprepro, apt in a clean chroot)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA, venvpkg
from tests.fixtures import packages, project
from venvpkg.records import ReleaseRecord, WatchRecord
from venvpkg.records import read as read_record
from venvpkg.workdir import Workdir

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the host build installs its Build-Depends"),
    pytest.mark.skipif(shutil.which("reprepro") is None, reason="needs reprepro"),
]
BUNDLED = Path(__file__).parents[2] / "venvpkg" / "data"
GIT = {"PATH": "/usr/bin:/bin", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
# pbr writes this for every OpenStack project; provenance.py takes it as OpenStack's.
OPENSTACK = "Author-email: OpenStack <openstack-discuss@lists.openstack.org>\n"
DELIVERABLE = """---
type: service
release-model: cycle-with-rc
repository-settings:
  openstack/{name}: {{}}
releases:
  - version: '1.0'
    projects:
      - repo: openstack/{name}
        hash: 3dfbbe7b9bd11dcd64420da0e4eda48b637f4a70
"""
FIXOTHER = "import sys\n\n\ndef main():\n    print('fixother-manage: ok')\n"


def _git(repo: Path, *args: str) -> None:
    date = "2026-11-30T12:00:00+00:00"
    env = GIT | {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def _opendev(root: Path) -> tuple[Path, Path]:
    """releases: 2025.2 (flamingo) has the services fixsvc and fixother; requirements:
    its stable/2025.2 branch is the fixture requirements."""
    releases = root / "releases"
    (releases / "data").mkdir(parents=True)
    shutil.copy(BUNDLED / "openstack-releases" / "series_status.yaml", releases / "data")
    flamingo = releases / "deliverables" / "flamingo"
    flamingo.mkdir(parents=True)
    for name in ("fixsvc", "fixother"):
        (flamingo / f"{name}.yaml").write_text(DELIVERABLE.format(name=name))
    _git(releases, "init", "-q", "-b", "master")
    _commit(releases, "releases")
    requirements = root / "requirements"
    shutil.copytree(DATA / "requirements-2025.2", requirements)
    _git(requirements, "init", "-q", "-b", "stable/2025.2")
    _commit(requirements, "2025.2")
    return releases, requirements


def _index(index_files: Path, root: Path) -> Path:
    """The session's index plus the two services as OpenStack publishes them, and a
    fixlib-b 1.1 that the requirements do not allow yet."""
    files = root / "files"
    shutil.copytree(index_files, files)
    project.build(files, "1.0", OPENSTACK)
    packages.make_sdist(
        files,
        "fixother",
        "1.0",
        {"fixother/__init__.py": FIXOTHER},
        requires=("fixlib-b",),
        scripts={"fixother-manage": "fixother:main"},
        metadata=OPENSTACK,
    )
    packages.make_sdist(
        files,
        "fixlib-b",
        "1.1",
        {"fixlib_b/__init__.py": "from fixlib_a import VALUE\n"},
        requires=("fixlib-a", "fixlib-transitive"),
    )
    packages.write_index(files, root)
    return files


class Upstream:
    def __init__(self, root: Path, index_files: Path, url: str, requirements: Path) -> None:
        self.root, self.files, self.url, self.requirements = root, index_files, url, requirements
        self.releases = root
        self.workdir = root / "work"
        self.config = root / "venvpkg.toml"

    def watch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return venvpkg(
            "watch",
            "2025.2",
            "--once",
            "--backend",
            "host",
            "--config",
            str(self.config),
            *args,
            workdir=self.workdir,
            index=self.url,
            check=check,
            timeout=1800,
        )

    def rounds(self, *args: str) -> list[dict]:
        return json.loads(self.watch("--json", *args).stdout)

    def requirements_package(self) -> str:
        paths = Workdir(self.workdir).release("bookworm", "2025.2")
        record = read_record(paths.record, ReleaseRecord.from_dict)
        assert record is not None
        return record.version

    def production(self) -> dict[str, str]:
        return self._listed("bookworm-2025.2")

    def _listed(self, codename: str) -> dict[str, str]:
        out = subprocess.run(
            ["reprepro", "-b", str(self.workdir / "repo"), "list", codename],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {line.split()[1]: line.split()[2] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def upstream(index_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    root = tmp_path_factory.mktemp("watch")
    releases, requirements = _opendev(root / "opendev")
    files = _index(index_files, root / "index")
    with packages.serve(root / "index") as url:
        watched = Upstream(root, files, url, requirements)
        watched.releases = releases
        watched.config.write_text(
            f'[data]\nreleases = "file://{releases}"\nrequirements = "file://{requirements}"\n'
        )
        yield watched
    subprocess.run(["dpkg", "--purge", "openstack-requirements-2025.2"], capture_output=True)


def test_the_first_round_ships_both_services(upstream: Upstream) -> None:
    (done,) = upstream.rounds("--projects", "fixsvc", "fixother")
    assert done["error"] == ""
    assert done["rebuilt"] == ["fixother", "fixsvc"]
    assert all("first watch" in line for line in done["decisions"])
    production = upstream.production()
    assert production["venv-fixsvc"] == "90:1.0-1+deb12"
    assert production["venv-fixother"] == "90:1.0-1+deb12"
    record = read_record(upstream.workdir / "watch" / "bookworm-2025.2.json", WatchRecord.from_dict)
    assert record is not None and set(record.projects) == {"fixsvc", "fixother"}
    # What it shipped is the status report's too.
    status = (upstream.workdir / "reports" / "status.md").read_text()
    assert "first watch: shipping venv-fixother 1.0" in status


def test_nothing_changed_does_nothing_in_under_five_seconds(upstream: Upstream) -> None:
    before = upstream.production()
    began = time.monotonic()
    # The projects are found from the last round: an operator types only the series.
    (done,) = upstream.rounds()
    seconds = time.monotonic() - began
    assert done["decisions"] == [] and done["rebuilt"] == [] and done["error"] == ""
    assert seconds < 5, f"a no-op round took {seconds:.1f} s"
    assert upstream.production() == before


def test_a_requirements_commit_rebuilds_only_the_venv_whose_lock_it_moves(
    upstream: Upstream,
) -> None:
    before, packed = upstream.production(), upstream.requirements_package()
    constraints = upstream.requirements / "upper-constraints.txt"
    constraints.write_text(constraints.read_text().replace("fixlib-b===1.0", "fixlib-b===1.1"))
    _commit(upstream.requirements, "bump fixlib-b")
    record = upstream.workdir / "watch" / "bookworm-2025.2.json"
    recorded = record.read_text()
    # A dry run says what the round would do, and does none of it.
    (planned,) = upstream.rounds("--dry-run")
    assert planned["rebuilt"] == ["fixother"]
    assert "fixother's lock changed (fixlib-b 1.0 -> 1.1)" in "\n".join(planned["decisions"])
    assert upstream.requirements_package() == packed and record.read_text() == recorded
    (done,) = upstream.rounds()
    assert done["error"] == ""
    assert done["rebuilt"] == ["fixother"]
    said = "\n".join(done["decisions"])
    assert "openstack/requirements of 2025.2 (flamingo) changed" in said
    assert "fixother's lock changed (fixlib-b 1.0 -> 1.1)" in said
    after = upstream.production()
    assert after["venv-fixsvc"] == before["venv-fixsvc"]
    assert after["venv-fixother"] == "90:1.0-2+deb12"
    # A new requirements package (another content, another version) was packed for it.
    assert upstream.requirements_package() != packed


def test_a_new_point_release_rebuilds_that_project_alone(upstream: Upstream) -> None:
    before = upstream.production()
    project.build(upstream.files, "1.1", OPENSTACK)
    packages.write_index(upstream.files, upstream.files.parent)
    (done,) = upstream.rounds()
    assert done["error"] == ""
    assert done["rebuilt"] == ["fixsvc"]
    assert done["decisions"] == ["fixsvc 1.1 is out for 2025.2: rebuilding venv-fixsvc"]
    after = upstream.production()
    assert after["venv-fixsvc"] == "90:1.1-1+deb12"
    assert after["venv-fixother"] == before["venv-fixother"]


def test_a_second_watch_of_the_workdir_is_refused(upstream: Upstream) -> None:
    lock = upstream.workdir / "locks" / "watch.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("venvpkg pid 4242\n")
        held.flush()
        refused = upstream.watch(check=False)
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("venvpkg: error: another venvpkg watch (venvpkg pid 4242) is watching")
    assert "Traceback" not in refused.stderr


def test_malformed_upstream_data_keeps_the_data_in_use_and_the_round_goes_on(
    upstream: Upstream,
) -> None:
    status = upstream.releases / "data" / "series_status.yaml"
    status.write_text("- name: [unclosed\n")
    _commit(upstream.releases, "break the series list")
    ran = upstream.watch("--dry-run", "--json")
    assert ran.returncode == 0
    (done,) = json.loads(ran.stdout)
    assert done["error"] == "" and done["rebuilt"] == []
    assert "deciding from updated openstack/releases" in ran.stderr


def test_nothing_to_watch_is_one_line(tmp_path: Path) -> None:
    ran = venvpkg("watch", "--once", "--no-update", workdir=tmp_path / "work", check=False)
    assert ran.returncode == 2
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("venvpkg: error: nothing to watch in ")
    assert "venvpkg watch 2025.2 --projects keystone" in last and "Traceback" not in ran.stderr
