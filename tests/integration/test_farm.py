"""A Buildbot farm for real: `venvpkg buildbot init`, a master and two workers on
127.0.0.1 started with Buildbot's own commands, the local git "opendev" and the tests'
own index of test_watch. The master's poller (venvpkg watch --dry-run) starts builds;
workers build in sbuild and export; the master imports, publishes, tests and promotes.

A new fixture release on the index must build exactly that project; the worker running
it is killed mid-build (with everything it started, as when a machine dies), and the
master must finish the build on the other worker, with nothing of the dead one in the
repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import venvpkg
from tests.fixtures import packages, project
from tests.integration.test_watch import OPENSTACK, _index, _opendev
from venvpkg.records import TestRecord, WatchRecord
from venvpkg.records import read as read_record

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (BIN / "buildbot").exists(), reason="needs venvpkg[farm]")
SVC, OTHER = "bookworm-2025.2-fixsvc", "bookworm-2025.2-fixother"
# Buildbot's results (buildbot.process.results), without importing Buildbot here.
SUCCESS, RETRY = 0, 5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment() -> dict[str, str]:
    """A user's shell: venvpkg and Buildbot on PATH, no host pip configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "VENVPKG_")) and k != "SOURCE_DATE_EPOCH"
    }
    return env | {"PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"}


class Farm:
    def __init__(self, root: Path, files: Path, requirements: Path) -> None:
        self.root, self.files, self.requirements = root, files, requirements
        self.master = root / "master"
        self.workers = {name: root / name for name in ("w1", "w2")}
        self.port, self.www_port = _free_port(), _free_port()

    @property
    def www(self) -> str:
        return f"http://127.0.0.1:{self.www_port}/api/v2"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.www}/{path}", timeout=20) as answer:
            return json.load(answer)

    def builds(self, builder: str) -> list[dict[str, Any]]:
        return list(self.api(f"builders/{builder}/builds?property=version")["builds"])

    def worker_name(self, build: dict[str, Any]) -> str:
        return str(self.api(f"workers/{build['workerid']}")["workers"][0]["name"])

    def current_step(self, build: dict[str, Any]) -> str:
        path = f"builders/{build['builderid']}/builds/{build['number']}/steps"
        running = [s for s in self.api(path)["steps"] if s["started_at"] and not s["complete"]]
        return str(running[0]["name"]) if running else ""

    def explain(self) -> str:
        """Every build and its state, and the end of each failed step's log."""
        lines = []
        for builder in (SVC, OTHER):
            for build in self.builds(builder):
                lines.append(f"{builder} #{build['number']}: {build['state_string']}")
                path = f"builders/{build['builderid']}/builds/{build['number']}/steps"
                for step in self.api(path)["steps"]:
                    if step["results"] not in (None, SUCCESS, RETRY):
                        lines += [f"  {step['name']}: {step['state_string']}", *self._tail(step)]
        return "\n".join(lines)

    def _tail(self, step: dict[str, Any]) -> list[str]:
        logs = self.api(f"steps/{step['stepid']}/logs")["logs"]
        found = []
        for entry in logs:
            url = f"{self.www}/logs/{entry['logid']}/raw"
            with urllib.request.urlopen(url, timeout=20) as answer:
                found += answer.read().decode(errors="replace").splitlines()[-15:]
        return [f"    {line}" for line in found]

    def wait(self, done: Any, what: str, seconds: float = 1800) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = done()
            if found:
                return found
            time.sleep(2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.explain()}")

    def finished(self, builder: str, version: str) -> list[dict[str, Any]]:
        return [
            b
            for b in self.builds(builder)
            if b["complete"] and b["properties"].get("version", [None])[0] == version
        ]

    def production(self) -> dict[str, str]:
        out = subprocess.run(
            ["reprepro", "-b", str(self.master / "work" / "repo"), "list", "bookworm-2025.2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return {line.split()[1]: line.split()[2] for line in out.splitlines() if line.strip()}


def _buildbot(*args: str) -> None:
    subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=_environment(), check=True, capture_output=True
    )


def _kill_tree(pid: int) -> None:
    """A machine that dies: the worker and everything it started, at once."""
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@pytest.fixture(scope="module")
def farm(index_files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    root = tmp_path_factory.mktemp("farm")
    releases, requirements = _opendev(root / "opendev")
    files = _index(index_files, root / "index")
    # One sbuild chroot for the master and both workers, made once.
    seed = root / "seed"
    venvpkg("chroot", "create", "bookworm", workdir=seed, timeout=1800)
    config = root / "venvpkg.toml"
    config.write_text(
        f'[data]\nreleases = "file://{releases}"\nrequirements = "file://{requirements}"\n'
    )
    with packages.serve(root / "index") as url:
        running = Farm(root, files, requirements)
        init = venvpkg(
            "buildbot", "init", str(running.master),
            "--series", "2025.2", "--projects", "fixsvc", "fixother",
            "--target", "bookworm", "--workers", "w1", "w2", "--interval", "5s",
            "--port", str(running.port), "--www-port", str(running.www_port),
            "--config", str(config), "--json",
            workdir=root / "unused", index=url,
        )  # fmt: skip
        made = json.loads(init.stdout)
        assert made["builders"] == [OTHER, SVC]
        workers = [w / "venvpkg-work" for w in running.workers.values()]
        for workdir in [running.master / "work", *workers]:
            workdir.mkdir(parents=True)
            (workdir / "chroots").symlink_to(seed / "chroots")
        _buildbot("buildbot", "start", str(running.master))
        for name, where in running.workers.items():
            password = (running.master / "workers" / name).read_text().strip()
            address = f"127.0.0.1:{running.port}"
            _buildbot(
                "buildbot-worker", "create-worker", "--umask=0o022", str(where), address, name,
                password,
            )  # fmt: skip
            _buildbot("buildbot-worker", "start", str(where))
        try:
            yield running
        finally:
            for where in running.workers.values():
                subprocess.run([str(BIN / "buildbot-worker"), "stop", str(where)], check=False)
            subprocess.run([str(BIN / "buildbot"), "stop", str(running.master)], check=False)


def test_init_refuses_a_directory_that_exists(tmp_path: Path) -> None:
    (tmp_path / "master").mkdir()
    (tmp_path / "master" / "master.cfg").write_text("# someone's master\n")
    ran = venvpkg(
        "buildbot", "init", str(tmp_path / "master"), "--series", "2025.2",
        "--projects", "fixsvc", workdir=tmp_path / "work", check=False,
    )  # fmt: skip
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines()[-1].startswith(
        f"venvpkg: error: {tmp_path / 'master'} exists and is not empty"
    )
    assert (tmp_path / "master" / "master.cfg").read_text() == "# someone's master\n"


def test_init_writes_a_master_buildbot_accepts(tmp_path: Path) -> None:
    made = venvpkg(
        "buildbot", "init", str(tmp_path / "master"), "--series", "2025.2",
        "--projects", "keystone", "nova", "--workers", "a", "b", "--json",
        workdir=tmp_path / "work",
    )  # fmt: skip
    farm = json.loads(made.stdout)
    # tests.conftest.venvpkg targets bookworm, as a site with [venvpkg] target would.
    assert farm["builders"] == ["bookworm-2025.2-keystone", "bookworm-2025.2-nova"]
    assert farm["start"] == f"buildbot start {tmp_path / 'master'}"
    # Buildbot itself loads the master.cfg: the builders, the poller, the schedulers.
    _buildbot("buildbot", "checkconfig", str(tmp_path / "master"))
    password = tmp_path / "master" / "workers" / "a"
    assert password.stat().st_mode & 0o077 == 0
    assert password.read_text().strip() in farm["worker_commands"]["a"]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="sbuild's unshare mode runs as root here")
def test_the_farm_ships_what_changed_on_either_worker_and_survives_a_dead_one(
    farm: Farm,
) -> None:
    # The first poll finds nothing shipped: both projects build, side by side.
    for builder in (SVC, OTHER):
        (first,) = farm.wait(lambda b=builder: farm.finished(b, "1.0"), f"{builder} 1.0")
        assert first["results"] == SUCCESS, farm.explain()
    assert farm.production()["venv-fixsvc"] == "90:1.0-1+deb12"
    assert farm.production()["venv-fixother"] == "90:1.0-1+deb12"

    # fixsvc 1.1 on the index: the next poll builds fixsvc alone.
    project.build(farm.files, "1.1", OPENSTACK)
    packages.write_index(farm.files, farm.files.parent)
    running = farm.wait(
        lambda: [b for b in farm.builds(SVC) if not b["complete"]], "a build of fixsvc 1.1"
    )[0]
    assert running["properties"]["version"][0] == "1.1"
    farm.wait(lambda: farm.current_step(running) == "build in sbuild", "its sbuild step", 900)
    dead = farm.worker_name(running)
    _kill_tree(int((farm.workers[dead] / "twistd.pid").read_text()))

    def shipped() -> list[dict[str, Any]]:
        builds = farm.finished(SVC, "1.1")
        return builds if any(b["results"] == SUCCESS for b in builds) else []

    builds = farm.wait(shipped, "fixsvc 1.1 built on the other worker")
    results = {(farm.worker_name(b), b["results"]) for b in builds}
    alive = next(name for name in farm.workers if name != dead)
    assert (dead, RETRY) in results, farm.explain()
    assert (alive, SUCCESS) in results, farm.explain()
    # Exactly that project: fixother was not built again.
    assert len(farm.builds(OTHER)) == 1

    production = farm.production()
    assert production["venv-fixsvc"] == "90:1.1-1+deb12"
    assert production["fixsvc-common"] == "90:1.1-1+deb12"
    assert production["venv-fixother"] == "90:1.0-1+deb12"
    # The repository is signed, and what it holds installed in a clean chroot trusting
    # only its key (the master's test step, whose record this is).
    repo = farm.master / "work" / "repo"
    keyring = repo / "venvpkg-archive-keyring.gpg"
    inrelease = repo / "dists" / "bookworm-2025.2" / "InRelease"
    subprocess.run(["gpgv", "--keyring", str(keyring), str(inrelease)], check=True)
    reports = farm.master / "work" / "reports"
    tested = read_record(reports / "test-bookworm-2025.2.json", TestRecord.from_dict)
    assert tested is not None and tested.passed
    assert tested.staging.get("venv-fixsvc") == "90:1.1-1+deb12"
    # What the master recorded: the poller has nothing more to ask for.
    watched = farm.master / "work" / "watch" / "bookworm-2025.2.json"
    record = read_record(watched, WatchRecord.from_dict)
    assert record is not None
    shipped = {n: s.version for n, s in record.projects.items()}
    assert shipped == {"fixsvc": "1.1", "fixother": "1.0"}
    # Nothing is left in the master's incoming directory.
    assert not list((farm.master / "incoming").iterdir())
