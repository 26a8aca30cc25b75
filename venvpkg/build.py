"""Stage 3: build a debianized project into .debs (the host backend; chroots come later)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from venvpkg import pack, runner, sysdeps
from venvpkg.config import Settings
from venvpkg.debianize import Release, Request, Result
from venvpkg.errors import ToolMissing
from venvpkg.progress import Display
from venvpkg.store import exclusive, place

# What the debian/ trees we render need on the build host, besides the requirements .deb.
HOST_TOOLS = ["dpkg-dev", "debhelper", "dh-virtualenv", "fakeroot", "lintian"]


@dataclass
class BuildResult:
    debs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    lintian: str = ""


def build_project(
    request: Request, debianized: Result, settings: Settings, display: Display
) -> BuildResult:
    release = Release(settings.workdir, request.series, request.target)
    out = settings.workdir / "debs" / f"{request.target.name}-{request.series.id}"
    return build_host(debianized, release, out, settings.workdir, display)


def build_host(
    debianized: Result, release: Release, out: Path, workdir: Path, display: Display
) -> BuildResult:
    """dpkg-buildpackage from the .dsc in a scratch directory; .debs land in `out` whole."""
    began = time.monotonic()
    logs = workdir / "logs" / f"build-{debianized.source_dir.name}"
    _require_build_depends(debianized, release, logs)
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=workdir / "tmp"))
    with exclusive(workdir / "locks" / f"build-{debianized.source_dir.name}.lock", display.info):
        try:
            tree = scratch / "tree"
            runner.run(["dpkg-source", "-x", debianized.dsc, tree], log=logs / "build.log")
            display.info(f"building {debianized.source_dir.name} {debianized.version}")
            runner.run(
                ["dpkg-buildpackage", "-b", "--no-sign"],
                cwd=tree,
                log=logs / "build.log",
                env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=1"),
                timeout=7200,
            )
            debs = sorted(scratch.glob("*.deb"))
            verdict = _lintian(scratch, logs / "lintian.log")
            out.mkdir(parents=True, exist_ok=True)
            for produced in [*debs, *scratch.glob("*.buildinfo"), *scratch.glob("*.changes")]:
                place(produced, out / produced.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return BuildResult([out / d.name for d in debs], time.monotonic() - began, verdict)


def _require_build_depends(debianized: Result, release: Release, logs: Path) -> None:
    """The requirements .deb at the exact version the tree names, and the host tools."""
    sysdeps.ensure_installed(HOST_TOOLS, logs / "apt.log", install=True)
    installed = runner.capture(
        ["dpkg-query", "-W", "-f", "${Version}", release.package], ok_codes=(0, 1)
    ).strip()
    if installed == release.version:
        return
    if os.geteuid() != 0:
        raise ToolMissing(
            f"{release.package} {release.version} is not installed (Build-Depends)",
            f"run: apt-get install {release.deb}",
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    runner.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "--allow-downgrades", release.deb],
        log=logs / "apt.log",
        env=env,
    )


def _lintian(directory: Path, log: Path) -> str:
    changes = next(directory.glob("*.changes"))
    return pack.lintian(changes, log)
