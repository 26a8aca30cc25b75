"""Plan a release: which pins go into the wheelhouse for a series and target.

Everything here is decided before anything is fetched or built, so it can be printed
with --dry-run and unit-tested without tools.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import __version__, projects, provenance, sysdeps
from venvpkg.config import Settings
from venvpkg.errors import NetworkError, UsageError, VenvpkgError
from venvpkg.index import Index, NotOnIndex, choose
from venvpkg.places import HOST, Place
from venvpkg.projects import ProjectPin
from venvpkg.release import overrides, resolve
from venvpkg.release.requirements import (
    Pin,
    RequirementsData,
    parse_constraints,
    parse_names,
    parse_requirement_lines,
)
from venvpkg.series import Series, python_range
from venvpkg.targets import Target

if TYPE_CHECKING:
    from venvpkg.release import ReleaseRequest


# The installer dh_virtualenv runs in every build: uv installs keystone's 103 wheels in
# under a second where pip takes 5-6 s and, with the cleanup rules.j2 does, gives the
# same bytes build after build (benchmarks/build.py). Pinned here, not by the series:
# it is venvpkg's tool, not part of any venv. An index without a wheel of it for the
# target leaves the builds on pip.
INSTALLER = ("uv", Version("0.13.9"))


@dataclass(frozen=True)
class ReleasePlan:
    """What a release run will put into the wheelhouse."""

    series: Series
    target: Target
    data: RequirementsData
    constraints: dict[NormalizedName, Pin]
    wanted: dict[NormalizedName, Version]
    projects: tuple[ProjectPin, ...] = ()
    # How what the branch leaves open is resolved: its build constraints, the day, the denylist.
    rules: resolve.Rules = field(default_factory=resolve.Rules)
    build_depends: tuple[str, ...] = ()
    allow_missing: bool = False
    index_url: str = ""
    # overrides.txt: the pins an override set replaced, and why.
    overrides: str = ""
    # Names an override set omits: never brought back to complete the closure.
    omitted: frozenset[NormalizedName] = frozenset()
    # A full release's services, whose dependencies outside upper-constraints it adds...
    services: tuple[ProjectPin, ...] = ()
    # ...those dependencies, each with the services that need it...
    unconstrained: dict[NormalizedName, tuple[str, ...]] = field(default_factory=dict)
    # ...and the services left out, with why (not on the index, a look-alike).
    left_out: tuple[str, ...] = ()
    # uv==VERSION when its wheel joins the wheelhouse; "" when builds stay on pip.
    installer: str = ""

    @property
    def id(self) -> str:
        return f"{self.target.name}-{self.series.id}"

    @property
    def unpinned(self) -> list[NormalizedName]:
        """Closure members upper-constraints does not pin (chosen once, recorded in the lock)."""
        return sorted(name for name in self.wanted if name not in self.constraints)

    @property
    def unconstrained_pins(self) -> dict[str, list[str]]:
        """name==version -> the services that need it, for reports and wheelhouse.json."""
        return {f"{n}=={self.wanted[n]}": list(u) for n, u in self.unconstrained.items()}

    @property
    def build_constraints(self) -> str:
        return self.rules.constraints

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
            self.overrides,
            # What the branch leaves open is chosen by this date.
            self.rules.dated_before,
            [p.requirement() for p in self.services],
            self.installer,
        ]
        return hashlib.sha256(json.dumps(document).encode()).hexdigest()


def applicable_pins(
    data: RequirementsData, target: Target, series: Series
) -> tuple[dict[NormalizedName, Pin], frozenset[NormalizedName]]:
    """upper-constraints for `target`, minus denylisted names (never pinned by the branch)."""
    origin = f"{data.origin}/upper-constraints.txt"
    newest = Version("{}.{}".format(*python_range(series.id)[1]))
    pins = parse_constraints(data.upper_constraints, origin, target, newest)
    denied = frozenset(parse_names(data.denylist))
    return {n: p for n, p in pins.items() if n not in denied}, denied


# The oldest day whose build tools serve the PEP 517 hooks of the pip that builds and
# resolves today: setuptools 41.2 (queens' maintained phase) fails on setup.py files that
# find themselves through sys.argv[0] (pyldap); 57.4 (2021-07) builds all of queens.
TOOLS_FLOOR = "2021-08-01"


def branch_rules(
    data: RequirementsData,
    build_constraints: str,
    series: Series,
    denied: frozenset[NormalizedName] = frozenset(),
) -> resolve.Rules:
    """How this branch resolves what it does not pin: dated by its commit or, when that is
    later, by the end of the series' maintained phase (an unmaintained branch touched in
    2026 built with 2025's tools: 2024.1's sdists need pkg_resources), but for its
    denylist."""
    dated = min(d for d in (data.commit_date, series.maintained_until) if d)
    return resolve.Rules(build_constraints, max(dated, TOOLS_FLOOR), denied)


def _require_on_index(chosen: tuple[ProjectPin, ...], index: Index) -> None:
    """A project version the index lacks would resolve to an empty closure, not an error."""
    for pin in chosen:
        if not index.files(pin.pypi_name, pin.version):
            raise UsageError(
                f"{pin.pypi_name} {pin.version} is not on {index.url}",
                "check the version (openstack/releases lists each series' releases)",
            )


def make_plan(
    request: ReleaseRequest,
    data: RequirementsData,
    settings: Settings,
    where: Callable[[], Place] = lambda: HOST,
) -> ReleasePlan:
    """Decide the wheelhouse contents; resolving a project closure may use the index.

    `where` gives the place the wheels will build, the host or the target's root; it is
    asked only once the request has proven valid, since making a root takes a while.
    """
    series, target = request.series, request.target
    branch, denied = applicable_pins(data, target, series)
    replaced = overrides.load(target.name, series.id, settings.overrides)
    constraints = replaced.apply(branch)
    _require_overrides_on_index(replaced, settings)
    rules = branch_rules(data, _applicable_build_constraints(data, target), series, denied)
    pinned = {name: pin.version for name, pin in constraints.items()}
    chosen = _verified(projects.project_pins(series, list(request.projects)), series, settings)
    services: tuple[ProjectPin, ...] = ()
    needs: dict[NormalizedName, tuple[str, ...]] = {}
    left_out: tuple[str, ...] = ()
    if not chosen:
        # Before the place: a mistyped service must not cost the making of a root.
        services, left_out = _services(request, settings)
    place = where()
    with ThreadPoolExecutor(max_workers=2) as aside:
        # While the closure waits on the index: bindep's parser (1.3 s on a cold cache),
        # apt-cache policy over its answer, and the index's page of the installer.
        system = aside.submit(_system_packages, data, replaced, target, settings, place)
        installer_found = aside.submit(_installer, settings, target)
        if chosen:
            wanted = _closure(chosen, pinned, rules, request, settings, place)
        else:
            wanted, needs = _with_services(services, pinned, rules, request, settings, place)
        build_depends, installer = system.result(), installer_found.result()
    if installer:
        wanted = {**wanted, canonicalize_name(INSTALLER[0]): INSTALLER[1]}
    return ReleasePlan(
        series,
        target,
        data,
        constraints,
        wanted,
        chosen,
        rules,
        build_depends,
        request.allow_missing,
        settings.index_url,
        replaced.listing(branch),
        frozenset(o.name for o in replaced.pins if o.version is None),
        services,
        needs,
        left_out,
        installer,
    )


def _system_packages(
    data: RequirementsData,
    replaced: overrides.OverrideSet,
    target: Target,
    settings: Settings,
    place: Place,
) -> tuple[str, ...]:
    """The Debian packages the builds need: bindep's for the target, the overrides'
    additions, less what the target's apt cannot install."""
    bindep = sysdeps.build_dependencies(
        data.bindep, target, f"{data.origin}/bindep.txt", settings.paths.cache("bindep")
    )
    bindep += [name for name, _reason in replaced.build_packages]
    return _installable(bindep, place, settings.paths.cache("apt-policy"))


def _installer(settings: Settings, target: Target) -> str:
    """uv==VERSION if the index has a wheel of it that runs on the target, else ""."""
    name, version = INSTALLER
    index = Index(settings.index_url, settings.paths.cache("index"))
    try:
        chosen = choose(index.files(name, version), target)
    except (NetworkError, NotOnIndex):
        return ""
    return f"{name}=={version}" if chosen is not None and chosen.is_wheel else ""


def _verified(
    pins: tuple[ProjectPin, ...], chosen: Series, settings: Settings
) -> tuple[ProjectPin, ...]:
    """Each project under the PyPI name whose metadata names its repository."""
    index = Index(settings.index_url, settings.paths.cache("index"))
    cache = settings.paths.cache("provenance")
    return tuple(
        provenance.newest_release(
            provenance.verified(p, index, settings.paths.store, cache),
            index,
            projects.version_line(chosen, p),
        )
        for p in pins
    )


def _services(
    request: ReleaseRequest, settings: Settings
) -> tuple[tuple[ProjectPin, ...], tuple[str, ...]]:
    """The services whose venvs a full release serves: those asked for, else every service
    deliverable of the series with a release. One the index lacks, or whose PyPI name is a
    look-alike, is left out with its reason instead of sinking the release."""
    specs = request.services
    if specs is None:
        specs = tuple(p.name for p in projects.services(request.series))
    else:
        # A name the user typed wrong is an error, not a service to leave out.
        projects.project_pins(request.series, list(specs))
    index = Index(settings.index_url, settings.paths.cache("index"))

    def checked(spec: str) -> ProjectPin | str:
        try:
            (pin,) = _verified(
                projects.project_pins(request.series, [spec]), request.series, settings
            )
            _require_on_index((pin,), index)
        except NetworkError:
            raise  # an index out of reach fails every service alike: say it once
        except VenvpkgError as error:
            return f"{spec}: {error.message}"
        return pin

    # Each service asks the index for its newest release (never cached): 36 queries one
    # after the other were 5.5 s of every full release, a no-op re-run included.
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(checked, specs))
    kept = tuple(f for f in found if isinstance(f, ProjectPin))
    return kept, tuple(f for f in found if isinstance(f, str))


def _with_services(
    services: tuple[ProjectPin, ...],
    pinned: dict[NormalizedName, Version],
    rules: resolve.Rules,
    request: ReleaseRequest,
    settings: Settings,
    place: Place,
) -> tuple[dict[NormalizedName, Version], dict[NormalizedName, tuple[str, ...]]]:
    """Every pin, plus what the services need that upper-constraints leaves out (skyline's
    fastapi, adjutant's djangorestframework), resolved once for all of them under the pins;
    and for each such name, the services that need it."""
    if not services:
        return dict(pinned), {}
    roots = {
        s: [_with_extras(s, settings), *_extra_packages((s,), settings, request.series)]
        for s in services
    }
    resolver = _resolver(request, settings, rules, place)
    # Not strict: a service the pins contradict fails in its own build, not the release's.
    closure = resolver.closure([r for rs in roots.values() for r in rs], pinned, strict=False)
    lookup = resolver.lookup()
    environment = request.target.marker_environment()
    reached: dict[NormalizedName, list[str]] = {}
    everything = {**pinned, **closure}
    for service, own_roots in roots.items():
        found = resolve.walk(own_roots, everything, environment, lookup)
        for name in found.chosen:
            if name != canonicalize_name(service.pypi_name):
                reached.setdefault(name, []).append(service.name)
    # The services themselves are built by debianize, unless one needs another
    # (skyline-apiserver's nginx generator imports skyline-console).
    own = {canonicalize_name(p.pypi_name) for p in services}
    added = {n: v for n, v in closure.items() if n not in pinned and (n not in own or n in reached)}
    needs = {n: tuple(users) for n, users in sorted(reached.items()) if n in added}
    return {**pinned, **added}, needs


def _resolver(
    request: ReleaseRequest, settings: Settings, rules: resolve.Rules, place: Place
) -> resolve.Resolver:
    """Closures on the configured index for the request's target, logged per release."""
    index = Index(settings.index_url, settings.paths.cache("index"))
    log = settings.paths.log(f"resolve-{request.target.name}-{request.series.id}.log")
    return resolve.Resolver(index, settings.paths, request.target, rules, log, place)


def _with_extras(pin: ProjectPin, settings: Settings) -> str:
    """The project's requirement with the extras its venv installs (barbican[kmip])."""
    extras = projects.project_settings(pin.name, settings).extras
    return f"{pin.pypi_name}[{','.join(extras)}]=={pin.version}" if extras else pin.requirement()


def _extra_packages(
    chosen: tuple[ProjectPin, ...], settings: Settings, series: Series
) -> list[str]:
    """What the projects' venvs take beyond their requirements (keystone's python-memcached);
    a deliverable named without a version at the series' release (skyline-console)."""
    return [
        _at_series_release(requirement, series)
        for pin in chosen
        for requirement in projects.project_settings(pin.name, settings).extra_packages
    ]


def _at_series_release(requirement: str, series: Series) -> str:
    if any(c in requirement for c in "<>=!~;["):
        return requirement
    try:
        found = projects.lookup(series, requirement)
    except UsageError:
        return requirement  # not a deliverable: the constraints or the resolver pick it
    if found.kind != "service" or found.version is None:
        return requirement  # a library: upper-constraints pins it (ldappool)
    return f"{found.pypi_name}=={found.version}"


def _require_overrides_on_index(replaced: overrides.OverrideSet, settings: Settings) -> None:
    index = Index(settings.index_url, settings.paths.cache("index"))
    for override in replaced.pins:
        if override.version is not None and not index.files(override.name, override.version):
            raise UsageError(
                f"override {override.name} {override.version} ({override.origin}) "
                f"is not on {index.url}",
                "choose a version the index has",
            )


def _closure(
    chosen: tuple[ProjectPin, ...],
    pinned: dict[NormalizedName, Version],
    rules: resolve.Rules,
    request: ReleaseRequest,
    settings: Settings,
    place: Place,
) -> dict[NormalizedName, Version]:
    """The projects' closure, with what their venvs add (keystone's python-memcached)."""
    resolver = _resolver(request, settings, rules, place)
    _require_on_index(chosen, resolver.index)
    # The pins' own names: a spaced or differently-cased spec still finds its settings.
    extra = _extra_packages(chosen, settings, request.series)
    closure = resolver.closure([p.requirement() for p in chosen] + extra, pinned)
    # Denylisted names are left unpinned, not excluded: certifi, for one, is on the
    # denylist so that deployments get the newest CA bundle.
    own = {canonicalize_name(p.pypi_name) for p in chosen}
    return {n: v for n, v in closure.items() if n not in own}


def _installable(dependencies: list[str], place: Place, cache: Path) -> tuple[str, ...]:
    """bindep entries the target's apt can install; old branches name packages long gone
    (queens: pypy, python-all-dev). The pins that needed them fail with their own cause."""
    gone = set(sysdeps.unavailable(sysdeps.package_names(dependencies), place, cache))
    return tuple(d for d in dependencies if d.split()[0] not in gone)


def _applicable_build_constraints(data: RequirementsData, target: Target) -> str:
    """build-constraints.txt lines whose markers hold for the target, one per line."""
    environment = target.marker_environment()
    lines = parse_requirement_lines(data.build_constraints, f"{data.origin}/build-constraints.txt")
    kept = [r for r in lines if not r.marker or r.marker.evaluate(environment)]
    return "".join(f"{resolve.without_marker(r)}\n" for r in kept)
