"""Plan a release: which pins go into the wheelhouse for a series and target.

Everything here is decided before anything is fetched or built, so it can be printed
with --dry-run and unit-tested without tools.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from venvpkg import __version__, projects, sysdeps, targets
from venvpkg.errors import UsageError
from venvpkg.files import Store
from venvpkg.index import Index
from venvpkg.release import resolve
from venvpkg.release.requirements import (
    Pin,
    RequirementsData,
    parse_constraints,
    parse_names,
    parse_requirement_lines,
)
from venvpkg.series import Series
from venvpkg.targets import Target


@dataclass(frozen=True)
class ProjectPin:
    """A project whose closure the wheelhouse serves, at an exact version."""

    name: str
    pypi_name: str
    version: Version

    def requirement(self) -> str:
        return f"{self.pypi_name}=={self.version}"


@dataclass(frozen=True)
class ReleasePlan:
    """What a release run will put into the wheelhouse."""

    series: Series
    target: Target
    data: RequirementsData
    constraints: dict[NormalizedName, Pin]
    wanted: dict[NormalizedName, Version]
    projects: tuple[ProjectPin, ...] = ()
    build_constraints: str = ""
    build_depends: tuple[str, ...] = ()
    allow_missing: bool = False
    index_url: str = ""
    denied: frozenset[NormalizedName] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return f"{self.series.id}-{self.target.name}"

    @property
    def unpinned(self) -> list[NormalizedName]:
        """Closure members upper-constraints does not pin (chosen once, recorded in the lock)."""
        return sorted(name for name in self.wanted if name not in self.constraints)

    def fingerprint(self) -> str:
        """Changes whenever any input of the wheelhouse or its package changes."""
        document = [
            __version__,
            self.data.fingerprint(),
            self.target.name,
            self.series.id,
            [p.requirement() for p in self.projects],
            self.allow_missing,
            self.index_url,
            sorted((n, str(v)) for n, v in self.wanted.items()),
        ]
        return hashlib.sha256(json.dumps(document).encode()).hexdigest()


def applicable_pins(
    data: RequirementsData, target: Target
) -> tuple[dict[NormalizedName, Pin], frozenset[NormalizedName]]:
    """upper-constraints for `target`, minus denylisted names (never pinned by the branch)."""
    pins = parse_constraints(data.upper_constraints, f"{data.origin}/upper-constraints.txt", target)
    denied = frozenset(parse_names(data.denylist))
    return {n: p for n, p in pins.items() if n not in denied}, denied


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
            project = projects.lookup(series, name)
        except UsageError:
            if not wanted:
                raise
            # An explicit NAME==VERSION may name a project outside openstack/releases
            # (a site's own service); the resolver then checks it exists.
            project = projects.Project(name, "service", wanted)
        found.append(
            ProjectPin(project.name, project.pypi_name, _project_version(series, project, wanted))
        )
    return tuple(found)


def _project_version(series: Series, project: projects.Project, wanted: str) -> Version:
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


def _require_on_index(chosen: tuple[ProjectPin, ...], index: Index) -> None:
    """A project version the index lacks would resolve to an empty closure, not an error."""
    for pin in chosen:
        if not index.files(pin.pypi_name, pin.version):
            raise UsageError(
                f"{pin.pypi_name} {pin.version} is not on {index.url}",
                "check the version (openstack/releases lists each series' releases)",
            )


def make_plan(
    series: Series,
    target: Target,
    data: RequirementsData,
    *,
    project_specs: list[str],
    allow_missing: bool,
    index_url: str,
    workdir: Path,
    extra_requirements: tuple[str, ...] = (),
) -> ReleasePlan:
    """Decide the wheelhouse contents; resolving a project closure may use the index.

    `extra_requirements` are what the projects' venvs add (keystone's python-memcached).
    """
    constraints, denied = applicable_pins(data, target)
    build_constraints = _applicable_build_constraints(data, target)
    pinned = {name: pin.version for name, pin in constraints.items()}
    chosen = project_pins(series, project_specs)
    if chosen:
        index = Index(index_url, workdir / "cache" / "index")
        _require_on_index(chosen, index)
        closure = resolve.closure(
            [p.requirement() for p in chosen] + list(extra_requirements),
            pinned,
            build_constraints,
            index=index,
            store=Store(workdir / "cache" / "files"),
            target=target,
            workdir=workdir,
            log=workdir / "logs" / f"resolve-{series.id}-{target.name}.log",
        )
        # Denylisted names are left unpinned, not excluded: certifi, for one, is on the
        # denylist so that deployments get the newest CA bundle.
        own = {canonicalize_name(p.pypi_name) for p in chosen}
        wanted = {n: v for n, v in closure.items() if n not in own}
    else:
        wanted = pinned
    return ReleasePlan(
        series,
        target,
        data,
        constraints,
        wanted,
        chosen,
        build_constraints,
        _installable(
            sysdeps.build_dependencies(
                data.bindep, target, f"{data.origin}/bindep.txt", workdir / "cache" / "bindep"
            ),
            target,
        ),
        allow_missing,
        index_url,
        denied,
    )


def _installable(dependencies: list[str], target: Target) -> tuple[str, ...]:
    """bindep entries the target's apt can install; old branches name packages long gone
    (queens: pypy, python-all-dev). The pins that needed them fail with their own cause."""
    if not targets.host_is(target):
        return tuple(dependencies)
    gone = set(sysdeps.unavailable(sysdeps.package_names(dependencies)))
    return tuple(d for d in dependencies if d.split()[0] not in gone)


def _applicable_build_constraints(data: RequirementsData, target: Target) -> str:
    """build-constraints.txt lines whose markers hold for the target, one per line."""
    environment = target.marker_environment()
    lines = parse_requirement_lines(data.build_constraints, f"{data.origin}/build-constraints.txt")
    kept = [r for r in lines if not r.marker or r.marker.evaluate(environment)]
    return "".join(f"{_without_marker(r)}\n" for r in kept)


def _without_marker(requirement: Requirement) -> str:
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"
