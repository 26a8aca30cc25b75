"""How a project splits into binary packages: Debian's names where puppet expects them.

Known projects follow the table in data/layouts.toml (from PACKAGING.md); any other
project gets the generic split: PROJECT-common, one package per service, python3-PROJECT
and venv-PROJECT. Which services exist is always checked against the project itself.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from venvpkg import projects
from venvpkg.debianize import from_archive
from venvpkg.debianize import model as model_names
from venvpkg.debianize.archive import DebianSource
from venvpkg.debianize.model import ProjectModel
from venvpkg.errors import DataError

# Console scripts that are daemons in the generic split, by their last word: the long
# runners of projects Debian never packaged (trove's taskmanager and guestagent, zun's
# wsproxy and cni-daemon, venus' task) as well as the usual api, engine and agents.
SERVICE_SUFFIXES = re.compile(
    r"[-_](api|engine|scheduler|conductor|worker|agent|server|listener|proxy|wsproxy|compute|"
    r"volume|backup|notification|executor|manager|taskmanager|guestagent|central|producer|"
    r"mdns|beat|monitor|processor|daemon|task)$"
)
DEFAULT_UIDS = {"nova": 64060, "cinder": 64061, "glance": 64062}


@dataclass(frozen=True)
class Service:
    """A systemd unit: a console script run as a daemon, or a WSGI application under uwsgi."""

    name: str
    script: str = ""
    # Arguments Debian's unit gives the script (ceilometer-polling --polling-namespaces central).
    args: str = ""
    # module:application, when the release has a WSGI module (else pbr's script serves).
    wsgi: str = ""
    port: int = 0
    # The script in the venv's bin that uwsgi loads, named as Debian's package names it:
    # oslo.log names the log after it, and puppet's apache classes run /usr/bin/NAME.
    wsgi_file: str = ""
    # rules writes wsgi_file (importing `wsgi`) when the release ships no pbr script of
    # that name; pbr's own script is used as it is, as Debian does.
    generated: bool = False

    @property
    def is_wsgi(self) -> bool:
        return bool(self.wsgi_file)


@dataclass(frozen=True)
class Package:
    name: str
    role: str  # venv, python, common, service, or meta (Debian's glance: pulls in the services)
    services: tuple[Service, ...] = ()
    scripts: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()  # /etc/default files the package owns
    # Other /usr/bin names for a WSGI script (keystone-wsgi-admin), as (alias, script).
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DjangoSite:
    """A Django site (horizon) as Debian's package of it lays it out: manage.py and
    wsgi.py in /usr/share/SITE, settings in /etc/SITE, static files served from
    /var/lib/SITE/static, and an apache package with the site's configuration."""

    settings: str  # the settings module (openstack_dashboard.settings)
    site: str  # Debian's name for the site and its directories (openstack-dashboard)
    apache: str  # the package of the apache configuration (openstack-dashboard-apache)

    @property
    def package_dir(self) -> str:
        """The settings module's package, as a path under site-packages."""
        return self.settings.rpartition(".")[0].replace(".", "/")


@dataclass(frozen=True)
class Layout:
    project: str
    packages: tuple[Package, ...]
    uid: int | None
    compat_links: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # The service user's login shell and the group of /var/log/PROJECT, as Debian's own
    # package of the project has them (keystone: /bin/sh, keystone:adm).
    shell: str = "/usr/sbin/nologin"
    log_group: str = ""
    # Directories under /etc/PROJECT: oslo.policy reads policy.d by default.
    config_dirs: tuple[str, ...] = ("policy.d",)
    # Conffiles taken from the source tree, as (name in /etc/PROJECT, path under its etc/).
    source_configs: tuple[tuple[str, str], ...] = ()
    # Files the venv must not ship, as paths under site-packages with * (horizon: the
    # bootswatch theme demos, whose pages load Google Analytics once collected and served).
    prune: tuple[str, ...] = ()
    django: DjangoSite | None = None

    def package(self, role: str) -> Package:
        return next(p for p in self.packages if p.role == role)

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(s for p in self.packages for s in p.services)


def plan_layout(model: ProjectModel, debian: DebianSource | None = None) -> Layout:
    """The split: layouts.toml's table where it has one (the six puppet-tested projects),
    else Debian's own package of the project, else the generic split."""
    entry = projects.layouts().get(model.name) or {}
    meta: tuple[str, ...] = ()
    homes: dict[str, str] = {}
    if "packages" in entry:
        services = _known_services(model, entry)
        groups = entry["packages"]
        common_name = entry.get("common", f"{model.name}-common")
        meta = tuple(entry.get("meta", []))
    elif debian is not None:
        found = from_archive.split(model, debian, entry)
        services = [
            _archive_service(model, plan) for units in found.packages.values() for plan in units
        ]
        groups = {name: [u.name for u in units] for name, units in found.packages.items()}
        common_name, meta, homes = found.common, found.meta, found.tool_homes
    else:
        services = _generic_services(model)
        groups = {s.name: [s.name] for s in services}
        common_name = f"{model.name}-common"
    by_name = {s.name: s for s in services}
    owned = {s.script for s in services if s.script} | {s.wsgi_file for s in services}
    # pbr writes wsgi_scripts into the venv's bin too; puppet's stable branches point there.
    others = (set(model.console_scripts) | set(model.wsgi_scripts)) - owned
    housed = {tool for tool, home in homes.items() if tool in others and home in groups}
    service_packages = []
    for package, names in groups.items():
        chosen = tuple(by_name[n] for n in names if n in by_name)
        # A package of Debian's that holds only tools (swift-drive-audit) is kept too.
        if chosen or package == common_name or any(homes[t] == package for t in housed):
            service_packages.append((package, chosen))
    # One /usr/bin link has one owner: a script several packages' units run (Debian's
    # ceilometer-agent-central and -compute both run ceilometer-polling) goes to common.
    runners = Counter(s.script or s.wsgi_file for _p, chosen in service_packages for s in chosen)
    shared = {script for script, count in runners.items() if count > 1}
    unhoused = tuple(sorted((others - housed) | shared))
    packages = [
        Package(f"venv-{model.name}", "venv"),
        Package(_python_name(model, debian), "python"),
    ]
    if common_name not in groups:
        packages.append(Package(common_name, "common", scripts=unhoused))
    for name, chosen in service_packages:
        role = "common" if name == common_name else "service"
        scripts = {s.script or s.wsgi_file for s in chosen} - shared
        scripts |= {tool for tool in housed if homes[tool] == name}
        if role == "common":
            scripts |= set(unhoused)
        defaults = tuple(entry.get("defaults", {}).get(name, []))
        aliases = _aliases(model, entry, chosen)
        packages.append(Package(name, role, chosen, tuple(sorted(scripts)), defaults, aliases))
    django = DjangoSite(**entry["django"]) if "django" in entry else None
    # The apache package of a site carries its web server configuration, not services.
    packages += [Package(n, "apache" if django and n == django.apache else "meta") for n in meta]
    uid = entry.get("uid") or DEFAULT_UIDS.get(model.name)
    links = _compat_links(model, entry)
    return Layout(
        model.name,
        tuple(packages),
        uid,
        links,
        shell=entry.get("shell", Layout.shell),
        log_group=entry.get("log_group", ""),
        # A Django site reads its settings, not oslo.policy's policy.d under /etc/PROJECT.
        config_dirs=()
        if django
        else tuple(sorted({*Layout.config_dirs, *entry.get("config_dirs", [])})),
        source_configs=_source_configs(model, entry),
        prune=tuple(entry.get("prune", {})),
        django=django,
    )


def _python_name(model: ProjectModel, debian: DebianSource | None) -> str:
    """python3-PROJECT, or Debian's python3-django-PROJECT where its archive names it so."""
    django = f"python3-django-{model.name}"
    return django if debian is not None and django in debian.names else f"python3-{model.name}"


def _archive_service(model: ProjectModel, plan: from_archive.UnitPlan) -> Service:
    if not plan.wsgi_file:
        return Service(plan.name, plan.script, args=plan.args)
    served = _wsgi_service(model, plan.name, plan.wsgi_module, plan.wsgi_file, plan.port)
    assert served is not None  # from_archive checked that a module or the script exists
    return served


def _source_configs(model: ProjectModel, entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The table's files from the source tree that this release has (and the wheel lacks)."""
    wanted = entry.get("source_configs", {})
    return tuple(
        sorted(
            (name, source)
            for name, source in wanted.items()
            if source in model.source_etc and name not in model.config_files
        )
    )


def _aliases(
    model: ProjectModel, entry: dict[str, Any] | None, chosen: tuple[Service, ...]
) -> tuple[tuple[str, str], ...]:
    """Old names of a package's WSGI scripts that the release no longer ships itself."""
    files = {s.wsgi_file for s in chosen}
    wanted = (entry or {}).get("wsgi_aliases", {})
    return tuple(
        sorted(
            (alias, file)
            for alias, file in wanted.items()
            if file in files and alias not in model.wsgi_scripts
        )
    )


def _known_services(model: ProjectModel, entry: dict[str, Any]) -> list[Service]:
    """The table's services that this release of the project actually provides."""
    found = []
    for name, spec in entry.get("services", {}).items():
        script, wsgi = spec.get("script", ""), spec.get("wsgi", "")
        if script and script not in model.console_scripts:
            continue
        if not wsgi:
            found.append(Service(name, script, args=spec.get("args", "")))
            continue
        file = spec.get("wsgi_script") or model_names.wsgi_script_name(model.name, wsgi)
        served = _wsgi_service(model, name, wsgi, file, spec.get("port", 0))
        if served is None:
            raise DataError(
                f"{model.name} {model.version} has no WSGI module {wsgi} and no script "
                f"{file} for {name} (it has {', '.join(model.wsgi_modules) or 'no module'})",
                "override the layout in a site template directory, or report it",
            )
        found.append(served)
    return found


def _wsgi_service(
    model: ProjectModel, name: str, module: str, file: str, port: int
) -> Service | None:
    """A WSGI service loaded through the script `file`: pbr's own if the release has one
    (keystone before Stein has no module), else one rules writes from the module."""
    application = f"{module}:application" if module in model.wsgi_modules else ""
    if file in model.console_scripts:  # a name taken by a command must not be overwritten
        file = model_names.wsgi_script_name(model.name, module)
    if file in model.wsgi_scripts:
        return Service(name, wsgi=application, port=port, wsgi_file=file)
    if application:
        return Service(name, wsgi=application, port=port, wsgi_file=file, generated=True)
    return None


def _generic_services(model: ProjectModel) -> list[Service]:
    # venus names its scripts venus_api: Debian package and unit names take "-".
    services = [
        Service(script.replace("_", "-"), script=script)
        for script in sorted(model.console_scripts)
        if script.startswith((f"{model.name}-", f"{model.name}_"))
        and SERVICE_SUFFIXES.search(script)
    ]
    taken = {s.name for s in services}
    for module in model.wsgi_modules:
        last = module.rsplit(".", 1)[1]
        name = f"{model.name}-{last}" if last != "api" or f"{model.name}-api" not in taken else ""
        if name and name not in taken:
            file = model_names.wsgi_script_name(model.name, module)
            served = _wsgi_service(model, name, module, file, 0)
            assert served is not None  # the module exists
            services.append(served)
            taken.add(name)
    return services


def _compat_links(model: ProjectModel, entry: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Files puppet expects under /usr/lib/python3/dist-packages, as (path in venv, link)."""
    links = []
    for relative in (entry or {}).get("compat_files", []):
        # Releases before the module existed (older nova) would get a dangling link.
        if relative.removesuffix(".py").replace("/", ".") not in model.wsgi_modules:
            continue
        links.append((relative, f"usr/lib/python3/dist-packages/{relative}"))
    return tuple(links)
