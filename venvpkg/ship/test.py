"""Stage 4: prove that staging's packages install, upgrade, downgrade and purge cleanly.

Everything happens in throwaway chroots that trust only the repository's key, as an
operator's node would: apt installs from the signed repository, never from files.

- lifecycle: production's versions first (when production has them), then staging's over
  them (an operator's config edit must survive), unit files verified, back down to
  production's and up again, then purge; a piuparts-style file-system comparison must
  find nothing left behind by staging's postrm.
- autopkgtest: each source's debian/tests, run by autopkgtest in an unshare testbed.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from venvpkg import chroot, runner
from venvpkg.config import Settings
from venvpkg.errors import CommandFailed, UsageError
from venvpkg.files import atomic_write_text
from venvpkg.progress import Display
from venvpkg.ship import publish

INSIDE_REPO = "/srv/venvpkg-repo"
REQUIREMENTS = "openstack-requirements-"


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class TestResult:
    dist: str
    series: str
    staging: dict[str, str]
    production: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    log: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)


def report_path(workdir: Path, dist: str, series: str) -> Path:
    return workdir / "reports" / f"test-{dist}-{series}.json"


def passed_versions(workdir: Path, dist: str, series: str) -> set[tuple[str, str]]:
    """(package, version) pairs whose last test run passed: what promote may copy."""
    path = report_path(workdir, dist, series)
    if not path.exists():
        return set()
    report = json.loads(path.read_text())
    if not all(step["ok"] for step in report["steps"]) or not report["steps"]:
        return set()
    staged = {(name, version) for name, version in report["staging"].items()}
    sources = {(name, version) for name, version in report.get("sources", {}).items()}
    return staged | sources


def run_tests(
    settings: Settings,
    display: Display,
    dist: str,
    series: str,
    projects: list[str],
    upgrade_from: str | None = None,
) -> TestResult:
    """Test staging's packages; the upgrade starts from production of `upgrade_from` (a
    series, e.g. the previous release) or, by default, of the same series."""
    repo = publish.open_repository(settings, display, create=False)
    staging_name = repo.codename(dist, series, "staging")
    production_name = repo.codename(dist, upgrade_from or series, "production")
    publish.require_distribution(repo, staging_name)
    publish.require_distribution(repo, production_name)
    with repo.lock(display):
        staging = _selected(publish.listing(repo, staging_name), projects)
        held = publish.listing(repo, production_name).values()
    if not staging:
        raise UsageError(
            f"{staging_name} holds no packages"
            + (f" of {', '.join(projects)}" if projects else ""),
            "publish them first: venvpkg publish",
        )
    binaries = {e.name: e.version for e in staging if e.arch != "source"}
    # The tests come from the published .dsc: what staging holds, whatever the work
    # directory has since been debianized to.
    dscs = sorted((e for e in staging if e.arch == "source"), key=lambda e: e.name)
    sources = {e.name: e.version for e in dscs}
    production = {e.name: e.version for e in held if e.name in binaries and e.arch != "source"}
    result = TestResult(dist, series, binaries, production)
    began = time.monotonic()
    log = settings.workdir / "logs" / f"test-{dist}-{series}.log"
    result.log = str(log)
    test_root = chroot.ensure(dist, settings, display, "test")
    display.info(f"testing {len(binaries)} packages from {staging_name} in a clean {dist}")
    result.steps += _lifecycle(repo, test_root, staging_name, production_name, result, log)
    for entry in dscs:
        dsc = repo.root / entry.path
        result.steps.append(_autopkgtest(settings, repo, test_root, staging_name, dsc, log))
    result.seconds = time.monotonic() - began
    _record(settings.workdir, result, sources)
    return result


def _selected(
    entries: dict[tuple[str, str, str], publish.Entry], projects: list[str]
) -> list[publish.Entry]:
    """Staging's packages built from the given projects' sources (all when none is given)."""
    chosen = list(entries.values())
    if not projects:
        return chosen
    wanted = {f"venv-{p}" for p in projects}
    unknown = sorted(wanted - {e.source for e in chosen})
    if unknown:
        raise UsageError(f"no source {', '.join(unknown)} in staging", "publish it first")
    return [e for e in chosen if e.source in wanted]


def _lifecycle(
    repo: publish.Repository,
    test_root: chroot.Chroot,
    staging_name: str,
    production_name: str,
    result: TestResult,
    log: Path,
) -> list[Step]:
    """One mmdebstrap run: unpack the test chroot, run lifecycle.sh in it, throw it away."""
    script = resources.files("venvpkg.templates").joinpath("lifecycle.sh").read_text()
    local = log.parent / "lifecycle.sh"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(script)
    # The requirements package is a Build-Depends; installing it proves nothing about a node.
    staged = " ".join(
        f"{n}={v}" for n, v in sorted(result.staging.items()) if not n.startswith(REQUIREMENTS)
    )
    previous = " ".join(
        f"{n}={v}" for n, v in sorted(result.production.items()) if not n.startswith(REQUIREMENTS)
    )
    arguments = shlex.join([staging_name, production_name, staged, previous])
    command = [
        "mmdebstrap",
        "--mode=unshare",
        "--variant=custom",
        "--skip=cleanup/reproducible",
        f'--setup-hook=tar -C "$1" -xf {shlex.quote(str(test_root.tarball))}',
        # The tarball has no /dev (devices cannot be made in a user namespace); with the
        # directory there, mmdebstrap binds the host's devices in. apt needs /dev/null.
        '--setup-hook=mkdir -p "$1/dev"',
        f'--customize-hook=mkdir -p "$1"{INSIDE_REPO}',
        f"--customize-hook=sync-in {shlex.quote(str(repo.root))} {INSIDE_REPO}",
        f"--customize-hook=copy-in {shlex.quote(str(local))} /tmp",
        f'--customize-hook=chroot "$1" sh /tmp/lifecycle.sh {arguments}',
        test_root.dist,
        "/dev/null",
    ]
    start = log.stat().st_size if log.exists() else 0
    # The steps the script reported say what failed; a crash before any leaves none.
    with contextlib.suppress(CommandFailed):
        runner.run(command, log=log, timeout=7200)
    steps = parse_steps(runner.output_since(log, start))
    if not steps:
        steps = [Step("lifecycle", False, f"the test chroot failed before any step; see {log}")]
    return steps


STEP = re.compile(r"^VENVPKG-STEP (\S+) (ok|fail)(?: (.*))?$", re.MULTILINE)


def parse_steps(output: str) -> list[Step]:
    """The steps lifecycle.sh reported, in order."""
    return [Step(m.group(1), m.group(2) == "ok", m.group(3) or "") for m in STEP.finditer(output)]


def _autopkgtest(
    settings: Settings,
    repo: publish.Repository,
    test_root: chroot.Chroot,
    staging_name: str,
    dsc: Path,
    log: Path,
) -> Step:
    """The source's own tests, its binaries installed by apt from staging."""
    source = dsc.name.split("_")[0]
    if not dsc.exists():
        return Step(f"autopkgtest:{source}", False, f"{dsc} is missing: tests are read from it")
    line = f"deb [signed-by={INSIDE_REPO}/{publish.KEYRING}] file:{INSIDE_REPO} {staging_name} main"
    setup = f"echo '{line}' > /etc/apt/sources.list.d/venvpkg.list && apt-get update -q"
    output = settings.workdir / "logs" / f"autopkgtest-{source}"
    shutil.rmtree(output, ignore_errors=True)  # autopkgtest wants it new; the last run stays
    command = [
        "autopkgtest",
        f"--setup-commands={setup}",
        f"--output-dir={output}",
        "--no-built-binaries",
        str(dsc),
        "--",
        "unshare",
        "--tarball",
        str(test_root.tarball),
        "--bind",
        str(repo.root),
        INSIDE_REPO,
    ]
    try:
        runner.run(command, log=log, timeout=3600)
    except CommandFailed as error:
        reason = next((t for t in reversed(error.tail) if "FAIL" in t), error.message)
        return Step(f"autopkgtest:{source}", False, f"{reason} (see {output})")
    return Step(f"autopkgtest:{source}", True, "")


def _record(workdir: Path, result: TestResult, sources: dict[str, str]) -> None:
    report = dict(asdict(result), passed=result.passed, sources=sources, finished=time.time())
    atomic_write_text(
        report_path(workdir, result.dist, result.series), json.dumps(report, indent=1)
    )
