"""Stage 7: run unattended on more than one machine. `venvpkg buildbot init DIR` writes a
Buildbot master whose builders are the pipeline's stages per dist, series and project,
fed by `venvpkg watch`'s checks; venvpkg.farm.master is what its master.cfg runs.

The master is the only machine with the signing key and the repository: workers build
and export bundles (venvpkg.ship.bundle), the master imports, publishes, tests and
promotes them. Buildbot is used as released (buildbot, buildbot-worker, buildbot-www, the
`farm` extra) and started and stopped with its own commands.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from venvpkg import rendering, runner, series
from venvpkg.config import DEFAULT_INDEX, Settings
from venvpkg.errors import UsageError
from venvpkg.files import atomic_write_text


def builder_name(dist: str, series: str, project: str) -> str:
    return f"{dist}-{series}-{project}"


@dataclass(frozen=True)
class FarmRequest:
    directory: Path
    series: tuple[str, ...]
    projects: tuple[str, ...]
    target: str | None
    workers: tuple[str, ...]
    backend: str
    interval: float
    port: int
    www_port: int
    worker_venvpkg: str


@dataclass(frozen=True)
class Farm:
    directory: Path
    builders: list[str]
    workers: dict[str, str]
    port: int
    www_port: int

    def worker_command(self, name: str, where: str, host: str = "MASTER") -> str:
        """What starts that worker on its machine (MASTER: the master's address)."""
        password = self.workers[name]
        return (
            f"buildbot-worker create-worker --umask=0o022 {where} {host}:{self.port} {name} "
            f"{password} "
            f"&& buildbot-worker start {where}"
        )


def init(request: FarmRequest, settings: Settings) -> Farm:
    """Create the master directory, Buildbot's own files and ours, beside its place and
    renamed into it whole: a run stopped half-way leaves no half a master."""
    directory = request.directory.absolute()
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(
            f"{directory} exists and is not empty",
            "choose a new directory; an existing master is changed by editing its "
            "master.cfg, then: buildbot reconfig DIR",
        )
    if request.interval < 1:
        raise UsageError(
            f"--interval of {request.interval:g} s is under Buildbot's one second",
            "poll every minute or more: --interval 5m",
        )
    if not request.workers or len(set(request.workers)) != len(request.workers):
        raise UsageError("name at least one worker, each once", "e.g. --workers w1 w2")
    watch = [_watched(name, request) for name in request.series]
    text = _master_cfg(request, settings, directory, watch)
    buildbot = _buildbot()
    directory.parent.mkdir(parents=True, exist_ok=True)
    passwords = {name: secrets.token_urlsafe(18) for name in request.workers}
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=f".{directory.name}.") as new:
        staging = Path(new) / "master"
        # Relocatable: buildbot.tac finds its directory wherever it is renamed to.
        runner.capture([buildbot, "create-master", "--quiet", "--relocatable", str(staging)])
        _set_umask(staging / "buildbot.tac")
        for name, password in passwords.items():
            atomic_write_text(staging / "workers" / name, password + "\n")
            (staging / "workers" / name).chmod(0o600)
        _settings_file(settings, staging / "venvpkg.toml")
        atomic_write_text(staging / "master.cfg", text)
        (staging / "incoming").mkdir()
        if directory.exists():
            directory.rmdir()
        staging.rename(directory)
    names = [builder_name(w["target"], w["series"], p) for w in watch for p in w["projects"]]
    return Farm(directory, names, passwords, request.port, request.www_port)


def _set_umask(tac: Path) -> None:
    """umask 022 for the master: twistd's default for a daemon, 077, would make a
    repository that apt's _apt user cannot read (create-master has no option for it)."""
    text = tac.read_text()
    if "\numask = None\n" not in text:
        raise UsageError(
            f"{tac} is not as this venvpkg knows Buildbot's (no 'umask = None')",
            "install the Buildbot version venvpkg[farm] names",
        )
    atomic_write_text(tac, text.replace("\numask = None\n", "\numask = 0o022\n"))


def _master_cfg(
    request: FarmRequest, settings: Settings, directory: Path, watch: list[dict[str, Any]]
) -> str:
    """master.cfg is Python: every value goes in as a Python literal."""
    values = {
        "basedir": str(directory),
        "venvpkg": [sys.executable, "-m", "venvpkg"],
        "worker_venvpkg": request.worker_venvpkg.split(),
        "index_url": settings.index_url if settings.index_url != DEFAULT_INDEX else None,
        "interval": int(request.interval),
        "backend": request.backend,
        "workers": list(request.workers),
        "port": request.port,
        "www_port": request.www_port,
    }
    literals: dict[str, Any] = {key: repr(value) for key, value in values.items()}
    literals |= {"watch": [repr(entry) for entry in watch], "directory": str(directory)}
    templates = Path(str(resources.files("venvpkg.templates").joinpath("buildbot")))
    return rendering.render(rendering.environment([templates]), "master.cfg.j2", literals)


def _watched(name: str, request: FarmRequest) -> dict[str, Any]:
    chosen, target = series.with_target(name, request.target)
    if not request.projects:
        raise UsageError(
            "name the projects the farm builds", f"e.g. --series {chosen.id} --projects keystone"
        )
    return {"target": target.name, "series": chosen.id, "projects": sorted(request.projects)}


def _buildbot() -> str:
    """Buildbot's command from the environment venvpkg runs in, else from PATH."""
    beside = Path(sys.executable).parent / "buildbot"
    if beside.exists():
        return str(beside)
    found = shutil.which("buildbot")
    if found is None:
        raise UsageError(
            "Buildbot is not installed",
            "install the farm extra: pip install 'venvpkg[farm]' (buildbot, buildbot-worker, "
            "buildbot-www)",
        )
    return found


def _settings_file(settings: Settings, path: Path) -> None:
    """The site's venvpkg.toml for master and workers (each passes its own --workdir)."""
    if settings.config_file is not None:
        text = settings.config_file.read_text()
    else:
        text = "# venvpkg settings of the farm, for the master and every worker.\n"
    atomic_write_text(path, text)


def describe(farm: Farm) -> dict[str, Any]:
    """What init made, and the commands that start it."""
    return {
        "directory": str(farm.directory),
        "builders": farm.builders,
        "workers": list(farm.workers),
        "start": f"buildbot start {farm.directory}",
        "web": f"http://localhost:{farm.www_port}/",
        "worker_commands": {n: farm.worker_command(n, f"/srv/{n}") for n in farm.workers},
    }
