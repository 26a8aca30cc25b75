"""openstack/requirements data for a series: constraints, denylist, build constraints, bindep.

The data comes from the copy bundled with venvpkg, a local checkout, or a git URL.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from venvpkg import debformats, gitspec, runner
from venvpkg.errors import CommandFailed, DataError, UsageError, VenvpkgError
from venvpkg.series import Series, data_dir
from venvpkg.targets import Target
from venvpkg.workdir import Workdir

DENYLIST_NAMES = ("denylist.txt", "blacklist.txt")


@dataclass(frozen=True)
class Pin:
    """One applicable upper-constraints line: an exact version of a distribution."""

    name: NormalizedName
    project: str
    version: Version
    origin: str
    # The older Python whose line this pin was taken from (see parse_constraints).
    for_python: str = ""

    def __str__(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class RequirementsData:
    """The files of one openstack/requirements branch."""

    origin: str
    ref: str
    commit_date: str
    upper_constraints: str
    denylist: str
    build_constraints: str
    bindep: str
    # Where commit_date came from, when it is not a commit: it dates the wheels
    # (SOURCE_DATE_EPOCH) and the package version, so the user should know.
    dated_by: str = "commit"

    @property
    def source_date_epoch(self) -> int:
        """The commit day as SOURCE_DATE_EPOCH: it dates every wheel built and the package."""
        return debformats.day_epoch(self.commit_date)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for text in (self.upper_constraints, self.denylist, self.build_constraints, self.bindep):
            digest.update(text.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def _strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def parse_constraints(
    text: str, origin: str, target: Target, newest_tested: Version | None = None
) -> dict[NormalizedName, Pin]:
    """Exact pins that apply to `target`; malformed lines name file:line.

    Branches from queens to ussuri pin many names once per Python they were tested on
    (`python_version=='3.8'`). A target with a newer Python than all of them takes, for
    such a name, the line of `newest_tested` (the series' newest tested Python) or a
    later one: the version the branch ran on its newest runtime, where an open name
    would resolve to whatever the index had later. A line only for an older Python
    (`dataclasses;python_version=='3.6'`) or a bound (`python_version<'3.7'`) marks a
    backport the newer Python does not need, and stays unpinned.
    """
    environment = target.marker_environment()
    pins: dict[NormalizedName, Pin] = {}
    older: dict[NormalizedName, tuple[Version, Pin]] = {}
    running = Version(environment["python_version"])
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        where = f"{origin}:{number}"
        requirement = _parse_line(line.replace("===", "==", 1), where)
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate(environment):
            python = _enumerated_python(str(requirement.marker))
            if python is None or newest_tested is None or not newest_tested <= python < running:
                continue
            if name not in older or older[name][0] < python:
                pin = _exact_pin(requirement, where)
                older[name] = (python, replace(pin, for_python=str(python)))
            continue
        pins[name] = _exact_pin(requirement, where)
    return {name: pin for name, (_python, pin) in older.items()} | pins


def _enumerated_python(marker: str) -> Version | None:
    """X.Y of a marker that is exactly `python_version=='X.Y'`, else None."""
    found = re.fullmatch(r"""python_version\s*==\s*['"](\d+\.\d+)['"]""", marker.strip())
    return Version(found.group(1)) if found else None


def _parse_line(line: str, where: str) -> Requirement:
    try:
        return Requirement(line)
    except (InvalidRequirement, InvalidMarker) as error:
        raise DataError(
            f"{where}: malformed constraint: {error}", "fix or remove the line"
        ) from None


def _exact_pin(requirement: Requirement, where: str) -> Pin:
    specs = list(requirement.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "==="):
        raise DataError(
            f"{where}: {requirement} is not an exact pin", "upper-constraints need name===version"
        )
    try:
        version = Version(specs[0].version)
    except InvalidVersion:
        raise DataError(
            f"{where}: invalid version in {requirement}", "use a PEP 440 version"
        ) from None
    return Pin(canonicalize_name(requirement.name), requirement.name, version, where)


def parse_names(text: str) -> set[NormalizedName]:
    """Distribution names listed one per line (the denylist)."""
    names = set()
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if line:
            names.add(canonicalize_name(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]))
    return names


def parse_requirement_lines(text: str, origin: str) -> list[Requirement]:
    """Requirement lines such as build-constraints.txt, markers left to the consumer."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if line:
            found.append(_parse_line(line, f"{origin}:{number}"))
    return found


def _read_dir(
    directory: Path, origin: str, ref: str, commit_date: str, dated_by: str = "commit"
) -> RequirementsData:
    def read(*names: str) -> str:
        for name in names:
            path = directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8")
        return ""

    if not (directory / "upper-constraints.txt").is_file():
        raise UsageError(
            f"{origin} has no upper-constraints.txt",
            "point --requirements at a checkout of openstack/requirements",
        )
    return RequirementsData(
        origin,
        ref,
        commit_date,
        read("upper-constraints.txt"),
        read(*DENYLIST_NAMES),
        read("build-constraints.txt"),
        read("bindep.txt"),
        dated_by,
    )


def bundled(series: Series) -> RequirementsData:
    """The copy `venvpkg update` fetched, else the one shipped inside venvpkg (see
    data/openstack-requirements/SOURCES)."""
    updated = data_dir("openstack-requirements", series.id)
    if updated is not None:
        return _read_dir(updated, f"updated {series.id}", series.ref, series.commit_date)
    root = resources.files("venvpkg").joinpath("data", "openstack-requirements", series.id)
    with resources.as_file(root) as directory:
        return _read_dir(directory, f"bundled {series.id}", series.ref, series.commit_date)


def load(series: Series, source: str | None, workdir: Workdir) -> RequirementsData:
    """Requirements data from the bundled copy, a checkout directory or URL[@REF]."""
    if not source:
        return bundled(series)
    path = Path(source)
    if path.is_dir():
        git_date = _git_date(path)
        if git_date:
            return _read_dir(path, str(path), "local", git_date)
        return _read_dir(path, str(path), "local", *_plain_dir_date(path))
    git = gitspec.parse(source)
    if git:
        url, ref = git
        return _from_git(url, ref or series.ref, workdir)
    raise UsageError(
        f"cannot read --requirements {source}",
        "give a checkout directory or a git URL[@REF]",
    )


def _plain_dir_date(path: Path) -> tuple[str, str]:
    """A directory without a commit is dated by SOURCE_DATE_EPOCH, else by its newest file.

    The newest file's day changes whenever the directory is copied, and with it every
    compiled wheel's digest; SOURCE_DATE_EPOCH is the reproducible-builds way to pin it.
    """
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return _mtime_date(path), "newest file"
    try:
        # ASCII digits only: str.isdigit() and int() also take "²" and other scripts' digits.
        if not re.fullmatch(r"[0-9]+", value):
            raise ValueError(value)
        day = datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d")
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970",
            "set it to a Unix time, e.g. SOURCE_DATE_EPOCH=$(date -d 2025-09-01 +%s), or unset it",
        ) from None
    return day, "SOURCE_DATE_EPOCH"


def _mtime_date(path: Path) -> str:
    """The day the directory's newest file changed (YYYY-MM-DD, UTC)."""
    newest = max((p.stat().st_mtime for p in path.iterdir() if p.is_file()), default=0.0)
    return datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d")


def _git_date(path: Path) -> str | None:
    if not (path / ".git").exists():
        return None
    try:
        out = runner.capture(["git", "-C", path, "log", "-1", "--format=%cs"])
    except VenvpkgError:
        return None
    return out.strip() or None


def _from_git(url: str, ref: str, workdir: Workdir) -> RequirementsData:
    checkout = workdir.checkouts / hashlib.sha256(f"{url}@{ref}".encode()).hexdigest()[:16]
    log = workdir.log("requirements-git.log")
    if not checkout.exists():
        staging = checkout.with_suffix(".partial")
        runner.run(["rm", "-rf", staging], log=log)
        try:
            runner.run(
                ["git", "clone", "--quiet", "--depth", "1", "--branch", ref, url, staging], log=log
            )
        except CommandFailed as error:
            raise UsageError(
                f"cannot read --requirements {url}@{ref}: {gitspec.clone_failure(error)}",
                f"see {log}",
            ) from None
        staging.rename(checkout)
    return _read_dir(checkout, f"{url}@{ref}", ref, _git_date(checkout) or _mtime_date(checkout))
