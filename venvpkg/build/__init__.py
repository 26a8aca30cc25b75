"""Stage 3: build debianized projects into .debs, in a clean sbuild chroot or on the host.

A build is skipped when its inputs are unchanged: the .dsc (which names the orig and
debian tarballs by hash, so it covers the source, debian/ and the lock), the requirements
.deb, the chroot tarball, the backend and venvpkg's own version. Builds happen in scratch
directories; only whole, lintian-checked results reach WORKDIR/debs/DIST-SERIES/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from venvpkg import __version__, chroot, runner, sysdeps, targets
from venvpkg.build import reproducible
from venvpkg.config import Settings
from venvpkg.debianize import Release, Request, Result
from venvpkg.errors import BuildFailed, CommandFailed, ToolMissing, UsageError, VenvpkgError
from venvpkg.files import atomic_write_text, exclusive, place, sha256_file
from venvpkg.progress import Display
from venvpkg.release import pack
from venvpkg.scratch import private_dir, require_passable, scratch_dir

BACKENDS = ("sbuild", "host")
# What the debian/ trees we render need on the build host, besides the requirements .deb.
HOST_TOOLS = ["dpkg-dev", "debhelper", "dh-virtualenv", "fakeroot", "lintian"]
OUTPUTS = (".deb", ".buildinfo", ".changes")


@dataclass
class Job:
    """One project to build, as debianize left it."""

    request: Request
    debianized: Result

    @property
    def name(self) -> str:
        return self.debianized.source_dir.name


@dataclass
class BuildResult:
    project: str
    version: str
    status: str  # built, cached or failed
    debs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    lintian: str = ""
    reproducible: str = ""
    error: str = ""


@dataclass(frozen=True)
class Options:
    backend: str = "sbuild"
    verify_reproducible: bool = False
    rebuild: bool = False
    # lintian tags the site accepts, each with the reason it gives.
    lintian_allow: Mapping[str, str] = field(default_factory=dict)


def options(
    settings: Settings, backend: str | None, verify_reproducible: bool, rebuild: bool = False
) -> Options:
    chosen = backend or str(settings.section("build").get("backend", "sbuild"))
    if chosen not in BACKENDS:
        raise UsageError(f"unknown backend {chosen!r}", f"choose one of {', '.join(BACKENDS)}")
    allow = dict(settings.section("lintian").get("allow", {}))
    for tag, reason in allow.items():
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError(
                f"[lintian.allow] {tag} has no reason", f'write {tag} = "why this is acceptable"'
            )
    return Options(chosen, verify_reproducible, rebuild, allow)


def build_all(
    jobs: list[Job], settings: Settings, display: Display, opts: Options
) -> list[BuildResult]:
    """Build every job, `settings.jobs` at a time, sharing one chroot per Debian release."""
    environments = {_release_key(j): _prepare(j, settings, display, opts) for j in jobs}
    results: dict[str, BuildResult] = {}
    with display.stage("building", len(jobs)) as stage:

        def one(job: Job) -> None:
            try:
                results[job.name] = _build_one(
                    job, environments[_release_key(job)], settings, display, opts
                )
            except VenvpkgError as error:
                # The other builds go on; the summary shows this one failed and why.
                display.warn(error.line())
                for line in getattr(error, "details", []):
                    display.warn(f"  {line}")
                results[job.name] = BuildResult(
                    job.request.project, job.debianized.version, "failed", error=error.line()
                )
            stage.advance(f"{job.name} {results[job.name].status}")

        with ThreadPoolExecutor(max_workers=max(1, min(settings.jobs, len(jobs)))) as pool:
            for future in [pool.submit(one, job) for job in jobs]:
                future.result()
    return [results[job.name] for job in jobs]


@dataclass
class Environment:
    """What every build for one series and Debian release shares."""

    release: Release
    out: Path
    chroot: chroot.Chroot | None
    requirements_sha256: str
    # The environment sbuild runs in (sbuild backend only).
    sbuild_env: dict[str, str] = field(default_factory=dict)
    # Where sbuild unpacks its chroot: chosen once, so -j builds do not scatter to disk as
    # the first ones fill the tmpfs.
    scratch: str | None = None


def _release_key(job: Job) -> tuple[str, str]:
    return job.request.series.id, job.request.target.name


def _prepare(job: Job, settings: Settings, display: Display, opts: Options) -> Environment:
    request = job.request
    release = Release(settings.workdir, request.series, request.target)
    out = settings.workdir / "debs" / f"{request.target.name}-{request.series.id}"
    requirements = _cached_sha256(release.deb, settings.workdir)
    if opts.backend == "host":
        targets.require_host_can_build(request.target)
        _require_build_depends(release, settings.workdir / "logs" / "build-host-apt.log")
        return Environment(release, out, None, requirements)
    chroot.require_tools()
    chroot.require_subids(display)
    found = chroot.ensure(request.target.name, settings, display)
    # Each concurrent build unpacks the chroot and installs the wheelhouse into it.
    need = found.record["size"] + 4 * release.deb.stat().st_size + (1 << 30)
    sbuild_env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=1")
    unpack = scratch_dir(settings.scratch, need * settings.jobs)
    require_passable(unpack)
    return Environment(release, out, found, requirements, sbuild_env, str(unpack))


def _cached_sha256(path: Path, workdir: Path) -> str:
    """sha256 of a large file, remembered by size and mtime so a no-op run does not rehash."""
    stat = path.stat()
    key = hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    memo = workdir / "cache" / "sha256" / key
    if memo.exists():
        return memo.read_text().strip()
    digest = sha256_file(path)
    atomic_write_text(memo, digest + "\n")
    return digest


def fingerprint(job: Job, env: Environment, opts: Options) -> str:
    inputs = {
        "dsc": sha256_file(job.debianized.dsc),
        "requirements": env.requirements_sha256,
        "chroot": env.chroot.sha256 if env.chroot else "host",
        "backend": opts.backend,
        "lintian_allow": sorted(opts.lintian_allow),
        "venvpkg": __version__,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _state_path(env: Environment, job: Job) -> Path:
    return env.out / "builds" / f"{job.debianized.dsc.stem}.json"


def _cached(job: Job, env: Environment, wanted: str) -> BuildResult | None:
    path = _state_path(env, job)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    debs = [env.out / name for name in state["debs"]]
    if state.get("fingerprint") != wanted or not all(d.exists() for d in debs):
        return None
    sizes = state.get("sizes", {})
    if any(d.stat().st_size != sizes.get(d.name) for d in debs):
        return None
    return BuildResult(
        job.request.project,
        job.debianized.version,
        "cached",
        debs,
        0.0,
        state.get("lintian", ""),
        state.get("reproducible", ""),
    )


def _build_one(
    job: Job, env: Environment, settings: Settings, display: Display, opts: Options
) -> BuildResult:
    wanted = fingerprint(job, env, opts)
    # One project builds for several dists and series at once; each has its own log and lock.
    where = f"{job.request.target.name}-{job.request.series.id}-{job.name}"
    logs = settings.workdir / "logs" / f"build-{where}"
    with exclusive(settings.workdir / "locks" / f"build-{where}.lock", display.info):
        cached = None if opts.rebuild else _cached(job, env, wanted)
        if cached is not None and (cached.reproducible or not opts.verify_reproducible):
            return cached
        began = time.monotonic()
        # In the workdir, beside debs/: results move into place with a rename. A killed
        # run's directory is swept by the next one.
        with private_dir(str(settings.workdir / "tmp"), 0, "build") as scratch:
            debs = _run_backend(job, env, scratch / "1", logs, display, opts)
            verdict = pack.lintian(
                next((scratch / "1").glob("*.changes")),
                logs / "lintian.log",
                opts.lintian_allow,
                settings.scratch,
            )
            same = ""
            if opts.verify_reproducible:
                again = _run_backend(job, env, scratch / "2", logs, display, opts)
                same = _compare(debs, again, logs)
            return BuildResult(
                job.request.project,
                job.debianized.version,
                "built",
                _publish(scratch / "1", env, job, (wanted, verdict, same), began),
                time.monotonic() - began,
                verdict,
                same,
            )


def _run_backend(
    job: Job, env: Environment, scratch: Path, logs: Path, display: Display, opts: Options
) -> list[Path]:
    scratch.mkdir(parents=True)
    display.info(f"building {job.name} {job.debianized.version} ({opts.backend})")
    if env.chroot is not None:
        _sbuild(job, env, env.chroot, scratch, logs / "sbuild.log")
    else:
        _host(job, scratch, logs / "build.log")
    return sorted(scratch.glob("*.deb"))


def _host(job: Job, scratch: Path, log: Path) -> None:
    """dpkg-buildpackage on the .dsc unpacked in a scratch directory."""
    tree = scratch / job.name
    runner.run(["dpkg-source", "-x", job.debianized.dsc, tree], log=log)
    runner.run(
        ["dpkg-buildpackage", "-b", "--no-sign"],
        cwd=tree,
        log=log,
        env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=1"),
        timeout=7200,
    )


def _sbuild(job: Job, env: Environment, found: chroot.Chroot, scratch: Path, log: Path) -> None:
    """sbuild in unshare mode: network cut for the build, the requirements .deb as input."""
    chroot.verify(found)
    command: list[str | os.PathLike[str]] = [
        "sbuild",
        "--chroot-mode=unshare",
        f"--chroot={found.tarball}",
        f"--dist={found.dist}",
        f"--arch={found.arch}",
        "--arch-all",
        "--arch-any",
        "--no-source",
        f"--build-dir={scratch}",
        # A fixed path: nothing built may depend on where the build ran.
        f"--build-path=/build/{job.name}",
        f"--extra-package={env.release.deb}",
        "--no-apt-upgrade",
        "--no-apt-distupgrade",
        "--no-run-lintian",
        "--no-run-piuparts",
        "--no-run-autopkgtest",
        "--no-source-only-changes",
        "--bd-uninstallable-explainer=apt",
        "--nolog",
        job.debianized.dsc,
    ]
    start = log.stat().st_size if log.exists() else 0
    with private_dir(env.scratch, 0, "sbuild") as unpack:
        sbuild_env = dict(env.sbuild_env, SBUILD_CONFIG=str(_sbuildrc(unpack)))
        try:
            runner.run(command, log=log, env=sbuild_env, timeout=7200)
        except CommandFailed as error:
            raise _sbuild_failure(job, log, start, error) from None


def _sbuildrc(unpack: Path) -> Path:
    """sbuild's configuration for one build: it unpacks the chroot into `unpack`."""
    template = str(unpack / "chroot.XXXXXXXXXX").replace("\\", "\\\\").replace("'", "\\'")
    config = unpack / "sbuildrc"
    # sbuild reads ~/.sbuildrc; our builds must not depend on what the user keeps there.
    config.write_text(
        "# venvpkg passes every other setting on the command line.\n"
        f"$unshare_tmpdir_template = '{template}';\n1;\n"
    )
    return config


def _sbuild_failure(job: Job, log: Path, start: int, error: CommandFailed) -> BuildFailed:
    """Name the failing step and the lines that say why, not the whole log."""
    text = runner.output_since(log, start)
    stage = next(iter(re.findall(r"^Fail-Stage: (\S+)", text, re.MULTILINE)), "")
    reasons = [
        line.strip()[:240]
        for line in text.splitlines()
        if re.match(r"\s*(E: |make(\[\d+\])?: \*\*\*|[\w.-]+: error: |ERROR|error:)", line)
    ]
    where = f" at stage {stage}" if stage else ""
    return BuildFailed(
        f"{job.name} failed in sbuild{where}", f"see {log}", reasons[-8:] or error.tail[-8:]
    )


def _compare(first: list[Path], second: list[Path], logs: Path) -> str:
    differ = reproducible.differing_debs(first, second)
    if not differ:
        return "identical"
    by_name = {p.name: p for p in second}
    details = []
    for name in differ:
        original = next((p for p in first if p.name == name), None)
        if original is None or name not in by_name:
            details.append(f"{name}: produced by one build only")
            continue
        files = reproducible.differing_files(original, by_name[name])
        details.append(f"{name}: {', '.join(files[:10]) or 'archive metadata'}")
        report = reproducible.diffoscope(original, by_name[name], logs / f"diffoscope-{name}.txt")
        if report:
            details.append(f"  diffoscope report: {report}")
    raise BuildFailed(
        f"two builds differ in {len(differ)} package(s): {', '.join(differ)}",
        "the inputs are the same, so something in the build is not reproducible",
        details,
    )


def _publish(
    scratch: Path, env: Environment, job: Job, outcome: tuple[str, str, str], began: float
) -> list[Path]:
    """Place the outputs, drop what the previous build of this source left, record the state."""
    wanted, verdict, same = outcome
    state_path = _state_path(env, job)
    produced = sorted(p for p in scratch.iterdir() if p.suffix in OUTPUTS)
    for path in produced:
        place(path, env.out / path.name)
    names = {p.name for p in produced}
    for previous in env.out.glob("builds/*.json"):
        _drop_superseded(previous, job, names)
    debs = [env.out / p.name for p in produced if p.suffix == ".deb"]
    state: dict[str, Any] = {
        "source": job.name,
        "fingerprint": wanted,
        "debs": [d.name for d in debs],
        "sizes": {d.name: d.stat().st_size for d in debs},
        "outputs": sorted(names),
        "lintian": verdict,
        "reproducible": same,
        "version": job.debianized.version,
        "project": job.request.project,
        "seconds": round(time.monotonic() - began, 1),
    }
    atomic_write_text(state_path, json.dumps(state, indent=1) + "\n")
    return debs


def _drop_superseded(state_path: Path, job: Job, keep: set[str]) -> None:
    """Outputs an older revision of the same source left behind."""
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return
    if state.get("source") != job.name or state_path.stem == job.debianized.dsc.stem:
        return
    for name in state.get("outputs", []):
        if name not in keep:
            (state_path.parent.parent / name).unlink(missing_ok=True)
    state_path.unlink()


def _require_build_depends(release: Release, log: Path) -> None:
    """The requirements .deb at the exact version the tree names, and the host tools."""
    sysdeps.ensure_installed(HOST_TOOLS, log, install=True)
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
        log=log,
        env=env,
    )


def summary(results: list[BuildResult]) -> dict[str, Any]:
    return {
        "builds": [
            dict(asdict(r), debs=[str(d) for d in r.debs], seconds=round(r.seconds, 1))
            for r in results
        ]
    }
