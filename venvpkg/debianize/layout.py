"""How a project splits into binary packages: Debian's names where puppet expects them.

Known projects follow the table in data/layouts.toml (from PACKAGING.md); any other
project gets the generic split: PROJECT-common, one package per service, python3-PROJECT
and venv-PROJECT. Which services exist is always checked against the project itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from venvpkg import projects
from venvpkg.debianize.model import ProjectModel
from venvpkg.errors import DataError

# Console scripts that are daemons in the generic split, by their last word.
SERVICE_SUFFIXES = re.compile(
    r"-(api|engine|scheduler|conductor|worker|agent|server|listener|proxy|compute|volume|"
    r"backup|notification|executor|manager|central|producer|mdns|beat|monitor)$"
)
DEFAULT_UIDS = {"nova": 64060, "cinder": 64061, "glance": 64062}


@dataclass(frozen=True)
class Service:
    """A systemd unit: a console script run as a daemon, or a WSGI module under uwsgi."""

    name: str
    script: str = ""
    wsgi: str = ""
    port: int = 0
    # A pbr wsgi_script in the venv's bin, served where the release has no WSGI module.
    wsgi_file: str = ""

    @property
    def is_wsgi(self) -> bool:
        return bool(self.wsgi or self.wsgi_file)


@dataclass(frozen=True)
class Package:
    name: str
    role: str  # venv, python, common or service
    services: tuple[Service, ...] = ()
    scripts: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()  # /etc/default files the package owns


@dataclass(frozen=True)
class Layout:
    project: str
    packages: tuple[Package, ...]
    uid: int | None
    compat_links: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def package(self, role: str) -> Package:
        return next(p for p in self.packages if p.role == role)

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(s for p in self.packages for s in p.services)


def plan_layout(model: ProjectModel) -> Layout:
    entry = projects.layouts().get(model.name)
    services = _known_services(model, entry) if entry else _generic_services(model)
    groups = entry["packages"] if entry else {s.name: [s.name] for s in services}
    common_name = entry.get("common", f"{model.name}-common") if entry else f"{model.name}-common"
    by_name = {s.name: s for s in services}
    service_packages = []
    for package, names in groups.items():
        chosen = tuple(by_name[n] for n in names if n in by_name)
        if chosen or package == common_name:
            service_packages.append((package, chosen))
    owned = {s.script for s in services if s.script}
    # pbr writes wsgi_scripts into the venv's bin too; puppet's stable branches point there.
    others = tuple(sorted((set(model.console_scripts) | set(model.wsgi_scripts)) - owned))
    packages = [Package(f"venv-{model.name}", "venv"), Package(f"python3-{model.name}", "python")]
    if common_name not in groups:
        packages.append(Package(common_name, "common", scripts=others))
    for name, chosen in service_packages:
        role = "common" if name == common_name else "service"
        scripts = tuple(sorted({s.script for s in chosen if s.script}))
        if role == "common":
            scripts = tuple(sorted(set(scripts) | set(others)))
        defaults = tuple(entry.get("defaults", {}).get(name, [])) if entry else ()
        packages.append(Package(name, role, chosen, scripts, defaults))
    uid = entry.get("uid") if entry else DEFAULT_UIDS.get(model.name)
    links = _compat_links(model, entry)
    return Layout(model.name, tuple(packages), uid, links)


def _known_services(model: ProjectModel, entry: dict[str, Any]) -> list[Service]:
    """The table's services that this release of the project actually provides."""
    found = []
    for name, spec in entry.get("services", {}).items():
        script, wsgi = spec.get("script", ""), spec.get("wsgi", "")
        if script and script not in model.console_scripts:
            continue
        # Older releases (keystone before Stein) serve a pbr wsgi_script, not a module.
        fallback = spec.get("wsgi_script", "")
        if wsgi and wsgi not in model.wsgi_modules and fallback in model.wsgi_scripts:
            found.append(Service(name, wsgi_file=fallback, port=spec.get("port", 0)))
            continue
        if wsgi and wsgi not in model.wsgi_modules:
            raise DataError(
                f"{model.name} {model.version} has no WSGI module {wsgi} for {name} "
                f"(it has {', '.join(model.wsgi_modules) or 'none'})",
                "override the layout in a site template directory, or report it",
            )
        found.append(
            Service(name, script, f"{wsgi}:application" if wsgi else "", spec.get("port", 0))
        )
    return found


def _generic_services(model: ProjectModel) -> list[Service]:
    services = [
        Service(script, script=script)
        for script in sorted(model.console_scripts)
        if script.startswith(f"{model.name}-") and SERVICE_SUFFIXES.search(script)
    ]
    taken = {s.name for s in services}
    for module in model.wsgi_modules:
        last = module.rsplit(".", 1)[1]
        name = f"{model.name}-{last}" if last != "api" or f"{model.name}-api" not in taken else ""
        if name and name not in taken:
            services.append(Service(name, wsgi=f"{module}:application"))
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
