"""The Buildbot side of a venvpkg farm: what master.cfg is made of.

Imported only by the master.cfg `venvpkg buildbot init` writes, in a master that runs
Buildbot (venvpkg[farm]); nothing else in venvpkg imports Buildbot.

- WatchPoller asks `venvpkg watch --dry-run --json` in the master's workdir what changed
  upstream, and turns each project it would rebuild into a change for that project's
  builder, unless a build of it is already queued or running.
- One builder per dist, series and project, whose steps are the pipeline's stages: on a
  worker (its own workdir beside its builders) update, release, debianize, build, export;
  the bundle goes to the master, which alone holds the signing key and the repository:
  import, publish to staging, test, promote, and record it as shipped.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from buildbot.changes.base import ReconfigurablePollingChangeSource
from buildbot.data import resultspec
from buildbot.plugins import schedulers, steps, util, worker
from buildbot.util import runprocess
from twisted.internet import defer
from twisted.python import log

from venvpkg.farm import builder_name
from venvpkg.workdir import Workdir

# Each worker keeps one venvpkg workdir beside its builder directories, so wheels, built
# wheels and chroots are shared by every builder it runs.
WORKER_WORKDIR = "venvpkg-work"
BUNDLE = "build.venvpkg.tar"


class WatchPoller(ReconfigurablePollingChangeSource):  # type: ignore[misc]
    """Changes from `venvpkg watch`'s checks: one per project it would rebuild."""

    compare_attrs = ("commands",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(name="venvpkg-watch", **kwargs)

    def checkConfig(
        self,
        commands: Sequence[Sequence[str]],
        env: Mapping[str, str],
        pollInterval: int,
        name: str = "venvpkg-watch",
    ) -> None:
        super().checkConfig(name=name, pollInterval=pollInterval, pollAtLaunch=True)

    @defer.inlineCallbacks
    def reconfigService(
        self,
        commands: Sequence[Sequence[str]],
        env: Mapping[str, str],
        pollInterval: int,
        name: str = "venvpkg-watch",
    ) -> Any:
        self.commands = [list(c) for c in commands]
        self.env = dict(env)
        yield super().reconfigService(name=name, pollInterval=pollInterval, pollAtLaunch=True)

    def describe(self) -> str:
        return f"venvpkg watch --dry-run, every {self.pollInterval} s"

    @defer.inlineCallbacks
    def poll(self) -> Any:
        for command in self.commands:
            rc, out, err = yield runprocess.run_process(
                self.master.reactor, command, env=self.env, runtime_timeout=3600
            )
            if rc != 0:
                said = err.decode(errors="replace").strip().splitlines()
                log.msg(f"venvpkg watch failed ({rc}): {said[-1] if said else ''}")
                continue
            for watched in json.loads(out):
                yield self._changes(watched)

    @defer.inlineCallbacks
    def _changes(self, watched: Mapping[str, Any]) -> Any:
        dist, _, series = watched["codename"].partition("-")
        for build in watched.get("builds", []):
            name = builder_name(dist, series, build["project"])
            if (yield self._pending(name)):
                continue
            log.msg(f"venvpkg watch: {build['why']}")
            yield self.master.data.updates.addChange(
                author="venvpkg watch",
                revision=build["version"],
                comments=build["why"],
                project=name,
                category="venvpkg-watch",
                properties={"version": build["version"]},
                src="venvpkg",
            )

    @defer.inlineCallbacks
    def _pending(self, name: str) -> Any:
        """A build of that builder is queued or running: the next poll asks again."""
        builderid = yield self.master.data.updates.findBuilderId(name)
        requests = yield self.master.data.get(
            ("buildrequests",),
            filters=[
                resultspec.Filter("builderid", "eq", [builderid]),
                resultspec.Filter("complete", "eq", [False]),
            ],
        )
        return bool(requests)


def configure(farm: Mapping[str, Any]) -> dict[str, Any]:
    """BuildmasterConfig for the farm master.cfg describes."""
    basedir = Path(farm["basedir"])
    names = [(w["target"], w["series"], p) for w in farm["watch"] for p in sorted(w["projects"])]
    builders = [_builder(farm, *name) for name in names]
    every = [b.name for b in builders]
    return {
        "title": farm.get("title", "venvpkg"),
        "titleURL": "https://pypi.org/project/venvpkg/",
        "buildbotURL": f"http://localhost:{farm['www_port']}/",
        "buildbotNetUsageData": None,
        "db": {"db_url": "sqlite:///state.sqlite"},
        "protocols": {"pb": {"port": f"tcp:{farm['port']}"}},
        "workers": [
            worker.Worker(name, _password(basedir, name), max_builds=1) for name in farm["workers"]
        ],
        "change_source": [
            WatchPoller(
                commands=[_watch_command(farm, w) for w in farm["watch"]],
                env=_environment(),
                pollInterval=int(farm["interval"]),
            )
        ],
        "schedulers": [
            schedulers.AnyBranchScheduler(
                name=name,
                change_filter=util.ChangeFilter(project=name),
                treeStableTimer=None,
                builderNames=[name],
            )
            for name in every
        ]
        + [
            schedulers.ForceScheduler(
                name="force",
                builderNames=every,
                properties=[
                    util.StringParameter(
                        name="version", label="Version (empty: newest on the index)", default=""
                    )
                ],
            )
        ],
        "builders": builders,
        "www": {"port": int(farm["www_port"]), "plugins": {}},
    }


def _password(basedir: Path, name: str) -> str:
    return (basedir / "workers" / name).read_text().strip()


def _environment() -> dict[str, str]:
    """The master's environment for venvpkg, without a host pip configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {"PIP_CONFIG_FILE": "/dev/null"}


def _settings(farm: Mapping[str, Any], workdir: str, config: str) -> list[str]:
    flags = ["--workdir", workdir, "--config", config]
    return flags + (["--index-url", farm["index_url"]] if farm.get("index_url") else [])


def _master_venvpkg(farm: Mapping[str, Any]) -> list[str]:
    basedir = Path(farm["basedir"])
    config = str(basedir / "venvpkg.toml")
    return [*farm["venvpkg"], *_settings(farm, str(basedir / "work"), config)]


def _watch_command(farm: Mapping[str, Any], watched: Mapping[str, Any]) -> list[str]:
    return [
        *_master_venvpkg(farm),
        "--json",
        "watch",
        watched["series"],
        "--target",
        watched["target"],
        "--projects",
        *watched["projects"],
        "--dry-run",
    ]


def _builder(farm: Mapping[str, Any], dist: str, series: str, project: str) -> Any:
    name = builder_name(dist, series, project)
    where = ["--series", series, "--target", dist]
    basedir = Path(farm["basedir"])
    incoming = util.Interpolate(f"{basedir}/incoming/%(prop:buildername)s-%(prop:buildnumber)s.tar")
    on_master = _master_venvpkg(farm)
    # Builds of one dist and series meet in one repository and one test record there.
    repository = [util.MasterLock(f"repository-{dist}-{series}").access("exclusive")]
    revisions = Workdir(basedir / "work").release(dist, series).revisions

    def run(step: str, *args: str, version: bool = False, **kwargs: Any) -> Any:
        return steps.ShellCommand(
            name=step,
            command=_on_worker(farm, list(args), version),
            env={"PIP_CONFIG_FILE": "/dev/null"},
            **({"haltOnFailure": True} | kwargs),
        )

    def master(step: str, command: Any, **kwargs: Any) -> Any:
        return steps.MasterShellCommand(
            name=step, command=command, env=_environment(), haltOnFailure=True, **kwargs
        )

    factory = util.BuildFactory()
    factory.addSteps(
        [
            steps.FileDownload(
                name="settings",
                mastersrc=str(basedir / "venvpkg.toml"),
                workerdest="venvpkg.toml",
            ),
            # The master numbers every revision: a worker counts on from its numbers, so
            # two workers never give two contents one version.
            steps.StringDownload(
                _read_or_empty(revisions),
                workerdest=util.Interpolate(
                    f"%(prop:builddir)s/../{WORKER_WORKDIR}/src/{dist}-{series}/revisions.json"
                ),
                name="revisions",
            ),
            # Upstream out of reach: the worker builds from the data it has, as watch does.
            run(
                "update",
                "update",
                haltOnFailure=False,
                flunkOnFailure=False,
                warnOnFailure=True,
            ),
            run("release", "release", series, "--projects", project, "--target", dist),
            run("debianize", "debianize", project, *where, version=True),
            run(
                f"build in {farm['backend']}",
                "build",
                project,
                *where,
                "--backend",
                farm["backend"],
                version=True,
            ),
            run("export", "export", project, *where, "--to", BUNDLE),
            steps.FileUpload(name="upload", workersrc=BUNDLE, masterdest=incoming),
            master("import", [*on_master, "import", incoming], locks=repository),
            master("publish to staging", [*on_master, "publish", *where], locks=repository),
            # One step, under the lock: promote copies what the dist and series' test
            # record says passed, and another build's test in between would replace it
            # (Buildbot locks a step, not a run of steps).
            master(
                "test, promote, record",
                _all_of(
                    [*on_master, "test", project, *where],
                    [*on_master, "promote", *where],
                    [*on_master, "watch", series, "--projects", project, *where[2:], "--shipped"],
                ),
                locks=repository,
            ),
            steps.MasterShellCommand(
                name="clean up", command=["rm", "-f", incoming], alwaysRun=True
            ),
        ]
    )
    return util.BuilderConfig(
        name=name,
        workernames=list(farm["workers"]),
        factory=factory,
        properties={"dist": dist, "series": series, "project": project},
        # One build of a project at a time: its revision comes from the one before.
        locks=[util.MasterLock(f"build-{name}").access("exclusive")],
        collapseRequests=True,
        tags=[dist, series],
    )


def _all_of(*commands: list[str]) -> list[str]:
    """One shell command running each in turn, stopping at the first that fails."""
    return ["sh", "-c", " && ".join(shlex.join(c) for c in commands)]


def _read_or_empty(path: Path) -> Any:
    @util.renderer  # type: ignore[untyped-decorator]
    def render(props: Any) -> str:
        return path.read_text() if path.exists() else "{}\n"

    return render


def _on_worker(farm: Mapping[str, Any], args: list[str], version: bool) -> Any:
    @util.renderer  # type: ignore[untyped-decorator]
    def render(props: Any) -> list[str]:
        workdir = posixpath.join(props.getProperty("builddir"), "..", WORKER_WORKDIR)
        chosen = props.getProperty("version") or ""
        pinned = ["--version", chosen] if version and chosen else []
        return [
            *farm["worker_venvpkg"],
            *_settings(farm, posixpath.normpath(workdir), "venvpkg.toml"),
            *args,
            *pinned,
        ]

    return render
