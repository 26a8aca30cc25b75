"""OpenStack deliverables per series, from the bundled openstack/releases data."""

from __future__ import annotations

import csv
import difflib
import io
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from venvpkg.config import ProjectSettings, Settings
from venvpkg.errors import UsageError
from venvpkg.series import Series, catalog, data_generation, data_text

# Deliverables whose PyPI distribution name differs from the deliverable name: the first
# name tried, still checked against the deliverable's repository (provenance.py), and
# the name a user may type instead of the deliverable's.
PYPI_NAMES = {
    "adjutant": "python-adjutant",
    "cyborg": "openstack-cyborg",
    "heat": "openstack-heat",
    "placement": "openstack-placement",
    "venus": "openstack-venus",
    "watcher": "python-watcher",
}
# Deliverables whose PyPI metadata names no repository, checked by hand instead.
VERIFIED_NAMES = {
    # openstack-venus (PKG-INFO: no Home-page, no Project-URL) is the only PyPI project
    # whose releases match openstack/releases' venus tags (5.0.0 .. 7.0.0, with rc1s)
    # and whose sdists carry pbr's ChangeLog of opendev.org/openstack/venus.
    "venus": "openstack-venus",
}


@dataclass(frozen=True)
class Project:
    """A deliverable of one series."""

    name: str
    kind: str
    # What openstack/releases lists last: a version, or an end-of-life tag (queens-eol).
    latest: str
    # The newest PEP 440 release of the series, whatever tag followed it.
    latest_release: str = ""
    # Its repositories (openstack/keystone): what its PyPI metadata must point at.
    repos: tuple[str, ...] = ()

    @property
    def pypi_name(self) -> str:
        return PYPI_NAMES.get(self.name, self.name)

    @property
    def version(self) -> Version | None:
        """The series' last release (an end-of-life series' too), or None if it had none."""
        try:
            return Version(self.latest_release or self.latest)
        except InvalidVersion:
            return None


@dataclass(frozen=True)
class ProjectPin:
    """A project whose closure the wheelhouse serves, at an exact version."""

    name: str
    pypi_name: str
    version: Version
    # The deliverable's repositories; empty for a site's own project.
    repos: tuple[str, ...] = ()
    # NAME==VERSION was asked for: no newer release replaces it.
    requested: bool = False

    def requirement(self) -> str:
        return f"{self.pypi_name}=={self.version}"


def _deliverables() -> dict[str, dict[str, Project]]:
    return _deliverables_of(data_generation())


@cache
def _deliverables_of(_generation: int) -> dict[str, dict[str, Project]]:
    """series -> deliverable -> Project, read once per load of the data (bundled or
    updated)."""
    text = data_text("openstack-releases", "deliverables.tsv")
    by_series: dict[str, dict[str, Project]] = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        by_series.setdefault(row["series"], {})[row["deliverable"]] = Project(
            row["deliverable"],
            row["type"],
            row["latest_version"],
            row.get("latest_release", ""),
            tuple(r for r in (row.get("repos") or "").split(",") if r),
        )
    return by_series


def service_names() -> frozenset[str]:
    """Every service deliverable of any series: the Debian sources worth reading."""
    return frozenset(
        p.name for known in _deliverables().values() for p in known.values() if p.kind == "service"
    )


def services(series: Series) -> list[Project]:
    """The series' service deliverables that had a release, by name."""
    known = _deliverables().get(series.codename, {})
    found = [p for p in known.values() if p.kind == "service" and p.version is not None]
    return sorted(found, key=lambda p: p.name)


def lookup(series: Series, name: str) -> Project:
    """A deliverable of `series` by deliverable or PyPI name."""
    known = _deliverables().get(series.codename, {})
    wanted = canonicalize_name(name)
    for project in known.values():
        if wanted in (canonicalize_name(project.name), canonicalize_name(project.pypi_name)):
            return project
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "check the deliverable name"
    raise UsageError(f"unknown project {name!r} in {series.label}", hint)


# What --projects and PROJECT arguments accept; ranges belong to the constraints.
PROJECT_SPEC = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(?P<version>\S+)\s*)?$"
)


def project_pins(series: Series, specs: list[str]) -> tuple[ProjectPin, ...]:
    """Projects named on the command line, at the series' latest release unless given."""
    found = []
    for spec in specs:
        match = PROJECT_SPEC.match(spec)
        if not match:
            raise UsageError(
                f"project {spec!r} is not NAME or NAME==VERSION"
                if spec.strip()
                else "an empty project name was given",
                "e.g. --projects nova,keystone==28.0.2",
            )
        name, wanted = match.group("name"), match.group("version") or ""
        try:
            project = lookup(series, name)
        except UsageError:
            if not wanted:
                raise
            # An explicit NAME==VERSION may name a project outside openstack/releases
            # (a site's own service); the resolver then checks it exists.
            project = Project(name, "service", wanted)
        version = _project_version(series, project, wanted)
        pin = ProjectPin(project.name, project.pypi_name, version, project.repos, bool(wanted))
        found.append(pin)
    return tuple(found)


def version_line(chosen: Series, pin: ProjectPin) -> tuple[int, ...]:
    """The leading release numbers a series' point releases share: the major version
    (keystone 28.x in 2025.2), or major.minor where a neighbouring series has the same
    major version (horizon: 25.5.x in 2025.2, 25.7.x in 2026.1)."""
    ordered = catalog()
    names = [s.codename for s in ordered]
    here = names.index(chosen.codename) if chosen.codename in names else -1
    for at in (here - 1, here + 1):
        if here < 0 or not 0 <= at < len(ordered):
            continue
        try:
            other = lookup(ordered[at], pin.name).version
        except UsageError:
            continue
        if other is not None and other.major == pin.version.major:
            return pin.version.release[:2]
    return pin.version.release[:1]


def newer_than_data(series: Series, pin: ProjectPin) -> str:
    """What to tell a user whose pin is a release the bundled data does not know yet."""
    try:
        known = lookup(series, pin.name).version
    except UsageError:
        return ""  # a site's own project
    if known is None or pin.version <= known:
        return ""
    return (
        f"{pin.name} {pin.version} is on the index, newer than {known} in venvpkg's "
        f"openstack/releases data for {series.label}: building {pin.version}"
    )


def _project_version(series: Series, project: Project, wanted: str) -> Version:
    if wanted:
        try:
            return Version(wanted)
        except InvalidVersion:
            raise UsageError(
                f"invalid version {wanted!r} for {project.name}", "use a PEP 440 version"
            ) from None
    if project.version is None:
        raise UsageError(
            f"{project.name} has no release version for {series.label} in the bundled "
            f"openstack/releases data (it says {project.latest or 'nothing'})",
            f"name one: --projects {project.name}==VERSION",
        )
    return project.version


@cache
def layouts() -> dict[str, Any]:
    """data/layouts.toml: Debian's package split of the projects Debian packages."""
    text = resources.files("venvpkg").joinpath("data", "layouts.toml").read_text()
    return tomllib.loads(text)


def project_settings(name: str, settings: Settings) -> ProjectSettings:
    """How `name` is packaged: built-in defaults < [debianize] < [projects.NAME]."""
    builtin = layouts().get(name, {})
    keys = {"extra_packages": "extra-packages", "extras": "extras"}
    defaults = {keys[k]: v for k, v in builtin.items() if k in keys}
    return settings.project(name, defaults)
