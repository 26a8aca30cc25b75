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
import re
import shlex
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from venvpkg import chroot, records, runner
from venvpkg.config import Settings
from venvpkg.errors import CommandFailed, UsageError
from venvpkg.progress import Display
from venvpkg.records import Step, TestRecord
from venvpkg.ship import repository
from venvpkg.ship.repository import Entry, Repository
from venvpkg.workdir import Workdir

INSIDE_REPO = "/srv/venvpkg-repo"
REQUIREMENTS = "openstack-requirements-"


def passed_versions(workdir: Workdir, dist: str, series: str) -> set[tuple[str, str]]:
    """(package, version) pairs whose last test run passed: what promote may copy."""
    record = records.read(workdir.test_record(dist, series), TestRecord.from_dict)
    return record.passed_versions() if record else set()


@dataclass(frozen=True)
class Testbed:
    """Where one test run happens: the repository, a clean chroot, and the suites it uses."""

    repo: Repository
    chroot: chroot.Chroot
    staging: str
    production: str
    log: Path


def run_tests(
    settings: Settings,
    display: Display,
    dist: str,
    series: str,
    projects: list[str],
    upgrade_from: str | None = None,
) -> TestRecord:
    """Test staging's packages; the upgrade starts from production of `upgrade_from` (a
    series, e.g. the previous release) or, by default, of the same series."""
    repo = repository.open_repository(settings, display, create=False)
    staging_name = repo.codename(dist, series, "staging")
    production_name = repo.codename(dist, upgrade_from or series, "production")
    staging, held = _suites(repo, staging_name, production_name, projects, display)
    binaries = {e.name: e.version for e in staging if e.arch != "source"}
    # The tests come from the published .dsc: what staging holds, whatever the work
    # directory has since been debianized to.
    dscs = sorted((e for e in staging if e.arch == "source"), key=lambda e: e.name)
    production = {e.name: e.version for e in held if e.name in binaries and e.arch != "source"}
    began = time.monotonic()
    log = settings.paths.log(f"test-{dist}-{series}.log")
    test_root = chroot.ensure(dist, settings, display, "test")
    bed = Testbed(repo, test_root, staging_name, production_name, log)
    display.info(f"testing {len(binaries)} packages from {staging_name} in a clean {dist}")
    steps = _lifecycle(bed, binaries, production)
    for entry in dscs:
        output = settings.paths.log(f"autopkgtest-{entry.name}")
        steps.append(_autopkgtest(bed, repo.root / entry.path, output))
    sources = {e.name: e.version for e in dscs}
    seconds = time.monotonic() - began
    record = TestRecord(
        dist, series, binaries, production, tuple(steps), seconds, str(log), sources, time.time()
    )
    records.write(settings.paths.test_record(dist, series), record)
    return record


def _suites(
    repo: Repository,
    staging: str,
    production: str,
    projects: list[str],
    display: Display,
) -> tuple[list[Entry], list[Entry]]:
    """Staging's packages of the projects, and everything production holds."""
    repository.require_distribution(repo, staging)
    repository.require_distribution(repo, production)
    with repo.lock(display):
        chosen = _selected(repository.listing(repo, staging), projects)
        held = list(repository.listing(repo, production).values())
    if not chosen:
        raise UsageError(
            f"{staging} holds no packages" + (f" of {', '.join(projects)}" if projects else ""),
            "publish them first: venvpkg publish",
        )
    return chosen, held


def _selected(entries: dict[tuple[str, str, str], Entry], projects: list[str]) -> list[Entry]:
    """Staging's packages built from the given projects' sources (all when none is given)."""
    chosen = list(entries.values())
    if not projects:
        return chosen
    wanted = {f"venv-{p}" for p in projects}
    unknown = sorted(wanted - {e.source for e in chosen})
    if unknown:
        raise UsageError(f"no source {', '.join(unknown)} in staging", "publish it first")
    return [e for e in chosen if e.source in wanted]


def _lifecycle(bed: Testbed, staging: dict[str, str], production: dict[str, str]) -> list[Step]:
    """One mmdebstrap run: unpack the test chroot, run lifecycle.sh in it, throw it away."""
    repo, test_root, log = bed.repo, bed.chroot, bed.log
    script = resources.files("venvpkg.templates").joinpath("lifecycle.sh").read_text()
    local = log.parent / "lifecycle.sh"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(script)
    # The requirements package is a Build-Depends; installing it proves nothing about a node.
    staged = " ".join(
        f"{n}={v}" for n, v in sorted(staging.items()) if not n.startswith(REQUIREMENTS)
    )
    previous = " ".join(
        f"{n}={v}" for n, v in sorted(production.items()) if not n.startswith(REQUIREMENTS)
    )
    arguments = shlex.join([bed.staging, bed.production, staged, previous])
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


def _autopkgtest(bed: Testbed, dsc: Path, output: Path) -> Step:
    """The source's own tests, its binaries installed by apt from staging."""
    repo, test_root, log = bed.repo, bed.chroot, bed.log
    source = dsc.name.split("_")[0]
    if not dsc.exists():
        return Step(f"autopkgtest:{source}", False, f"{dsc} is missing: tests are read from it")
    line = (
        f"deb [signed-by={INSIDE_REPO}/{repository.KEYRING}] file:{INSIDE_REPO} {bed.staging} main"
    )
    setup = f"echo '{line}' > /etc/apt/sources.list.d/venvpkg.list && apt-get update -q"
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
