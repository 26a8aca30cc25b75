"""The template context: every decision about the debian/ tree, made in Python."""

from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from packaging.utils import canonicalize_name

from venvpkg.debianize.layout import Layout, Package, Service
from venvpkg.debianize.model import ProjectModel
from venvpkg.targets import Target

HOMEPAGE = "https://opendev.org/openstack/{}"


@dataclass(frozen=True)
class Inputs:
    """Everything the rendering depends on besides the project itself."""

    model: ProjectModel
    layout: Layout
    target: Target
    series_id: str
    series_label: str
    version: str
    requirements_package: str
    requirements_version: str
    wheelhouse_dir: str
    maintainer: str
    extras: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    runtime_depends: tuple[str, ...] = ()
    override_wheels: bool = False
    # The uv wheel in the requirements package: dh_virtualenv installs with it.
    installer_wheel: str = ""
    compression: str = "-Zxz -z1"


def build(inputs: Inputs, now: datetime | None = None) -> dict[str, Any]:
    model, layout, target = inputs.model, inputs.layout, inputs.target
    if layout.django:
        # Its oslo.config options (horizon registers some for its docs) and policy
        # namespaces are read from the site's settings, not from a file in /etc/PROJECT.
        model = replace(model, samples=(), policy_namespaces=())
    project = model.name
    python = f"{target.python[0]}.{target.python[1]}"
    venv_dir = f"/opt/venvs/{project}"
    common = layout.package("common")
    configs = _configs(model, common.name)
    conffiles = _conffiles(model, layout, venv_dir, common.name)
    context: dict[str, Any] = {
        "source": f"venv-{project}",
        "project": project,
        "dist_name": model.dist_name,
        "upstream_version": inputs.version.split(":", 1)[-1].rsplit("-", 1)[0],
        "pep440_version": str(model.version),
        "version": inputs.version,
        "series": inputs.series_id,
        "series_label": inputs.series_label,
        "dist": target.name,
        "python": python,
        # Since 3.13 venv writes a .gitignore, and legacy-cgi replaces the removed cgi module.
        "python_313": target.python >= (3, 13),
        "python_interpreter": str(target.interpreter),
        "uwsgi": target.uwsgi,
        "venv_dir": venv_dir,
        "maintainer": inputs.maintainer,
        "homepage": HOMEPAGE.format(project),
        "year": (now or datetime.now(UTC)).year,
        "requirements_package": inputs.requirements_package,
        "wheelhouse_dir": inputs.wheelhouse_dir,
        "common_package": common.name,
        "extras": list(inputs.extras),
        "override_wheels": inputs.override_wheels,
        "uv_wheel": inputs.installer_wheel,
        "compression": inputs.compression,
        "samples": [
            {**asdict(s), "directory": s.filename.rpartition("/")[0]} for s in model.samples
        ],
        "policy": _policy(model),
        "main_config": _main_config(model),
        # Whether the project's daemons take oslo.config's --config-file and --log-file.
        "oslo_config": bool(model.samples) or "oslo.config" in _requirement_names(model),
        "rootwrap": model.has_rootwrap,
        "rootwrap_daemon": f"{project}-rootwrap-daemon" in model.console_scripts,
        "user": {
            "name": project,
            "uid": layout.uid,
            "home": f"/var/lib/{project}",
            "shell": layout.shell,
            "log_group": layout.log_group or project,
        },
        "configs": configs,
        "conffiles": conffiles,
        "wsgi_files": [
            {"name": s.wsgi_file, "service": _service(s)} for s in layout.services if s.generated
        ],
        "etc_dirs": [f"etc/{project}/{d}" for d in layout.config_dirs],
        "registry": f"/var/lib/venvpkg/{project}.configs",
        "config_dirs": sorted(
            {c["target"].rsplit("/", 1)[0] for c in configs}
            | {f"/etc/{project}/{d}" for d in layout.config_dirs}
            | {f"/etc/{project}"},
            reverse=True,
        ),
        "console_scripts": sorted(model.console_scripts),
        "console_entry_points": dict(model.console_scripts),
        "wsgi_entry_points": dict(model.wsgi_scripts),
        "dead_scripts": sorted(model.dead_scripts),
        "prune": list(layout.prune),
        "wsgi_modules": list(model.wsgi_modules),
        "build_depends": [
            "debhelper-compat (= 13)",
            "dh-virtualenv",
            f"python{python}",
            f"python{python}-venv",
            # The runtime check imports code that looks up protocols at import (eventlet):
            # /etc/protocols is on every node, not in a build chroot.
            "netbase",
            # rules drops RUNPATHs that point at /usr/local from modules built with one.
            "patchelf",
            f"{inputs.requirements_package} (= {inputs.requirements_version})",
        ],
    }
    context["django"] = _django(layout, venv_dir, python)
    context["packages"] = [_package(p, inputs, context, venv_dir, model) for p in layout.packages]
    return context


POLICY_FILE = "policy.yaml"


# The snippets Debian's openstack-dashboard copies into local_settings.d on first install,
# under the names puppet's horizon module writes them: (file, setting, value, why).
DJANGO_SNIPPETS = (
    ("_0001_debian_debug.py", "DEBUG", "False", "upstream's example turns debugging on"),
    (
        "_0002_debian_compress_offline.py",
        "COMPRESS_OFFLINE",
        "True",
        "pages use the CSS and JavaScript that `manage.py compress` made at configure time",
    ),
    (
        "_0003_debian_static_root.py",
        "STATIC_ROOT",
        '"{static}/"',
        "where the packages' Apache configuration serves the static files from",
    ),
    (
        "_0005_debian_webroot.py",
        "WEBROOT",
        '"/{project}/"',
        "the URL openstack-dashboard-apache mounts the site at",
    ),
    (
        "_0006_debian_cache.py",
        "CACHES",
        "{{'default': {{'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}}}",
        "sessions work before memcached is set up (puppet's horizon::cache_backend replaces it)",
    ),
)


def _django(layout: Layout, venv_dir: str, python: str) -> dict[str, Any] | None:
    """Where a Django site's parts go, as Debian's package of the site places them."""
    site = layout.django
    if site is None:
        return None
    static = f"/var/lib/{site.site}/static"
    snippets = [
        {
            "name": name,
            "setting": setting,
            "value": value.format(static=static, project=layout.project),
            "why": why,
        }
        for name, setting, value, why in DJANGO_SNIPPETS
    ]
    return {
        "settings": site.settings,
        "site": site.site,
        "apache": site.apache,
        "package_dir": site.package_dir,
        "site_packages": f"{venv_dir}/lib/python{python}/site-packages",
        "share": f"/usr/share/{site.site}",
        "etc": f"/etc/{site.site}",
        "var": f"/var/lib/{site.site}",
        "static": static,
        "webroot": f"/{layout.project}/",
        "snippets": snippets,
    }


def _requirement_names(model: ProjectModel) -> set[str]:
    return {canonicalize_name(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in model.requires}


def _policy(model: ProjectModel) -> dict[str, Any] | None:
    """The policy sample generated at build time, unless the project ships its own file."""
    if not model.policy_namespaces or POLICY_FILE in model.config_files:
        return None
    return {"namespaces": list(model.policy_namespaces), "filename": POLICY_FILE}


def _main_config(model: ProjectModel) -> str:
    """The file services read: PROJECT.conf, else PROJECT-api.conf (glance), else the first."""
    names = [s.filename for s in model.samples]
    for wanted in (f"{model.name}.conf", f"{model.name}-api.conf"):
        if wanted in names:
            return wanted
    return names[0] if names else f"{model.name}.conf"


def _configs(model: ProjectModel, common: str) -> list[dict[str, str]]:
    """The files an operator (or puppet) owns, copied into /etc/PROJECT only when missing:
    the main configs from the generator and the policy sample."""
    etc = f"/etc/{model.name}"
    found = [
        {"source": f"/usr/share/{common}/etc/{s.filename}", "target": f"{etc}/{s.filename}"}
        for s in model.samples
    ]
    if _policy(model):
        found.append(
            {"source": f"/usr/share/{common}/etc/{POLICY_FILE}", "target": f"{etc}/{POLICY_FILE}"}
        )
    return sorted(found, key=lambda c: c["target"])


def _conffiles(
    model: ProjectModel, layout: Layout, venv_dir: str, common: str
) -> list[dict[str, str]]:
    """Files that must follow the code's version, shipped in /etc/PROJECT as conffiles so
    dpkg brings new content and keeps an operator's edits: the wheel's data files
    (api-paste.ini, rootwrap), the uwsgi inis and the layout's files from the source tree.
    `source` is where rules finds it, `pristine` where a venvpkg package before conffiles
    kept its copy (preinst hands over an unedited file to dpkg)."""
    venv = f"debian/venv-{model.name}{venv_dir}"
    found = [
        {
            "source": f"{venv}/etc/{model.name}/{name}",
            "name": name,
            "pristine": f"{venv_dir}/etc/{model.name}/{name}",
        }
        for name in model.config_files
    ]
    found += [
        {
            "source": f"debian/uwsgi/{s.name}-uwsgi.ini",
            "name": f"{s.name}-uwsgi.ini",
            "pristine": f"/usr/share/{common}/etc/{s.name}-uwsgi.ini",
        }
        for s in layout.services
        if s.is_wsgi
    ]
    found += [
        {"source": f"etc/{source}", "name": name, "pristine": ""}
        for name, source in layout.source_configs
    ]
    for conffile in found:
        conffile["target"] = f"/etc/{model.name}/{conffile['name']}"
    return sorted(found, key=lambda c: c["target"])


def _package(
    package: Package, inputs: Inputs, context: dict[str, Any], venv_dir: str, model: ProjectModel
) -> dict[str, Any]:
    project = model.name
    venv = f"venv-{project}"
    exact = "(= ${binary:Version})"
    if package.role == "venv":
        depends = [f"python{context['python']}", "${shlibs:Depends}", "${misc:Depends}"]
        depends += list(inputs.target.stdlib_packages) + list(inputs.runtime_depends)
        summary = f"OpenStack {project} - virtualenv"
        description = [
            f"{project} {model.version} for OpenStack {inputs.series_label} and all its Python",
            f"dependencies in a virtualenv under {venv_dir}, built offline from",
            f"{inputs.requirements_package}.",
        ]
        architecture = "any"
    elif package.role == "python" and inputs.layout.compat_links:
        depends = [f"{venv} {exact}", "${misc:Depends}"]
        summary = f"OpenStack {project} - Python compatibility links"
        description = [
            f"Links for tools that look for {project} in Debian's Python path;",
            f"the code itself lives in the virtualenv under {venv_dir}.",
        ]
        architecture = "all"
    elif package.role == "python":
        depends = [f"{venv} {exact}", "${misc:Depends}"]
        summary = f"OpenStack {project} - Python code (in the virtualenv)"
        description = [
            f"Installing {package.name}, as Debian's package is named, installs",
            f"the virtualenv under {venv_dir} that holds the code; it adds nothing to",
            "Debian's Python path.",
        ]
        architecture = "all"
    elif package.role == "common":
        # As in Debian (nova-common needs python3-nova): puppet installs PROJECT-api and
        # expects the WSGI file the python3 package links into dist-packages.
        python_package = inputs.layout.package("python").name
        depends = [f"{venv} {exact}", f"{python_package} {exact}", "adduser", "${misc:Depends}"]
        if model.has_rootwrap:
            depends.append("sudo")
        summary = f"OpenStack {project} - common files"
        description = [
            f"The {project} system user, directories, configuration, log rotation",
            f"and command-line tools, running from the virtualenv under {venv_dir}.",
        ]
        architecture = "all"
    elif package.role == "apache":
        # mod_wsgi runs the system's Python 3, which is the venv's: wsgi.py adds the venv.
        depends = [
            f"{context['common_package']} {exact}",
            "apache2",
            "libapache2-mod-wsgi-py3",
            "${misc:Depends}",
        ]
        summary = f"OpenStack {project} - Apache configuration"
        description = [
            f"Serves the {project} Django site with Apache and mod_wsgi, as Debian's",
            f"{package.name} does: enabled at /{project} on first install.",
        ]
        architecture = "all"
    elif package.role == "meta":
        # Debian's glance and designate: installing it installs every service.
        services = [p.name for p in inputs.layout.packages if p.role == "service" and p.services]
        depends = [f"{name} {exact}" for name in services] + ["${misc:Depends}"]
        summary = f"OpenStack {project} - all services"
        description = [
            f"Installs every service package of OpenStack {project}, as Debian's {package.name}",
            "package does.",
        ]
        architecture = "all"
    elif package.services:
        depends = [f"{context['common_package']} {exact}", "${misc:Depends}"]
        summary = f"OpenStack {project} - {', '.join(s.name for s in package.services)}"
        description = [f"The {s.name} service of OpenStack {project}." for s in package.services]
        architecture = "all"
    else:
        depends = [f"{context['common_package']} {exact}", "${misc:Depends}"]
        summary = f"OpenStack {project} - {package.name} tools"
        description = [
            f"The tools Debian's {package.name} package holds: {', '.join(package.scripts)}."
        ]
        architecture = "all"
    if package.role == "common" and package.services:
        summary = f"OpenStack {project} - {', '.join(s.name for s in package.services)}"
    if any(s.is_wsgi for s in package.services):
        depends += ["uwsgi-core", "uwsgi-plugin-python3"]
    if package.role in ("common",):
        depends += list(inputs.depends)
    return {
        "name": package.name,
        "role": package.role,
        "architecture": architecture,
        "depends": depends,
        "summary": _synopsis(summary, project, package),
        "description": _wrapped(description),
        "services": [_service(s) for s in package.services],
        "links": _links(package, inputs.layout, venv_dir, context["python"]),
        "install": _installs(package, context),
        "defaults": list(package.defaults),
    }


# lintian rejects a synopsis over 80 characters and description lines over 80 columns;
# project and service names of any length must fit.
SYNOPSIS_WIDTH = 72
DESCRIPTION_WIDTH = 78


def _synopsis(summary: str, project: str, package: Package) -> str:
    if len(summary) <= SYNOPSIS_WIDTH:
        return summary
    shorter = f"OpenStack {project} - {len(package.services)} services"
    return shorter if len(shorter) <= SYNOPSIS_WIDTH else f"OpenStack {package.role} package"


def _wrapped(lines: list[str]) -> list[str]:
    """The description's lines as one paragraph, re-wrapped only if a line is too long."""
    if all(len(line) <= DESCRIPTION_WIDTH for line in lines):
        return lines
    return textwrap.wrap(" ".join(lines), DESCRIPTION_WIDTH, break_on_hyphens=False)


def _links(package: Package, layout: Layout, venv_dir: str, python: str) -> list[dict[str, str]]:
    links = [
        {"target": f"{venv_dir}/bin/{script}", "path": f"/usr/bin/{script}"}
        for script in package.scripts
    ]
    links += [
        {"target": f"{venv_dir}/bin/{script}", "path": f"/usr/bin/{alias}"}
        for alias, script in package.aliases
    ]
    if package.role == "python":
        site = f"{venv_dir}/lib/python{python}/site-packages"
        links += [
            {"target": f"{site}/{inside}", "path": f"/{link}"}
            for inside, link in layout.compat_links
        ]
    return links


def _installs(package: Package, context: dict[str, Any]) -> list[dict[str, str]]:
    """Files from debian/ that dh_install puts into the package."""
    found = [
        {"source": f"debian/units/{s.name}.service", "directory": "lib/systemd/system"}
        for s in package.services
    ]
    django = context["django"]
    if package.role == "common" and django:
        share = django["share"][1:]
        found += [
            {"source": "debian/django/manage.py", "directory": share},
            {"source": "debian/django/wsgi.py", "directory": share},
            {
                "source": "debian/django/settings.d/*.py",
                "directory": f"{django['share'][1:]}/settings.d",
            },
        ]
    if package.role == "apache":
        found.append({"source": "debian/apache/*.conf", "directory": "etc/apache2/sites-available"})
    if package.role == "common" and context["rootwrap"]:
        found.append(
            {
                "source": f"debian/sudoers/{context['project']}_sudoers",
                "directory": "etc/sudoers.d",
            }
        )
    return found


def _service(service: Service) -> dict[str, Any]:
    return {**asdict(service), "is_wsgi": service.is_wsgi}
