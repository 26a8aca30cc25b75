"""Render templates/debian/ into a debian/ tree; site templates override file by file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from venvpkg import rendering

EXECUTABLE = {
    "rules",
    "tests/smoke",
    "tests/functional",
    "runtime-check",
    "django/manage.py",
    "uv-pip",
}
# Projects with a functional autopkgtest (templates/debian/tests/functional/PROJECT.j2).
FUNCTIONAL = ("keystone", "nova")


@dataclass(frozen=True)
class Output:
    """One file of the debian/ tree: which template, and any per-file context."""

    template: str
    path: str
    extra: tuple[tuple[str, Any], ...] = ()


def environment(site: Path | None) -> jinja2.Environment:
    """The built-in templates, with a site's directory of overrides in front."""
    builtin = Path(str(resources.files("venvpkg.templates").joinpath("debian")))
    return rendering.environment([site, builtin] if site else [builtin])


def outputs(context: dict[str, Any]) -> list[Output]:
    """Every file to render, from the context's packages and services."""
    files = [
        Output("control.j2", "control"),
        Output("rules.j2", "rules"),
        Output("copyright.j2", "copyright"),
        Output("source/format.j2", "source/format"),
        Output("tests/control.j2", "tests/control"),
        Output("tests/smoke.j2", "tests/smoke"),
        Output("runtime-check.j2", "runtime-check"),
    ]
    if context["functional"]:
        files.append(Output(f"tests/functional/{context['project']}.j2", "tests/functional"))
    common = context["common_package"]
    files += [
        Output("common.preinst.j2", f"{common}.preinst"),
        Output("common.dirs.j2", f"{common}.dirs"),
        Output("common.postinst.j2", f"{common}.postinst"),
        Output("common.postrm.j2", f"{common}.postrm"),
        Output("common.logrotate.j2", f"{common}.logrotate"),
        Output("common.tmpfiles.j2", f"{common}.tmpfiles"),
    ]
    files += [
        Output("venv.postinst.j2", f"venv-{context['project']}.postinst"),
        Output("venv.prerm.j2", f"venv-{context['project']}.prerm"),
    ]
    if context["uv_wheel"]:
        files.append(Output("uv-pip.j2", "uv-pip"))
    if context["rootwrap"]:
        files.append(Output("common.sudoers.j2", f"sudoers/{context['project']}_sudoers"))
    files += [
        Output("wsgi-script.j2", f"wsgi/{file['name']}", (("service", file["service"]),))
        for file in context["wsgi_files"]
    ]
    files += _django_outputs(context["django"])
    for package in context["packages"]:
        scope = (("package", package),)
        files.append(
            Output("package.lintian-overrides.j2", f"{package['name']}.lintian-overrides", scope)
        )
        if package["links"]:
            files.append(Output("package.links.j2", f"{package['name']}.links", scope))
        if package["install"]:
            files.append(Output("package.install.j2", f"{package['name']}.install", scope))
        if package["defaults"]:
            files.append(Output("package.default.j2", f"{package['name']}.default", scope))
        for service in package["services"]:
            one = (("service", service),)
            files.append(Output("service.service.j2", f"units/{service['name']}.service", one))
            if service["is_wsgi"]:
                files.append(
                    Output("service-uwsgi.ini.j2", f"uwsgi/{service['name']}-uwsgi.ini", one)
                )
    return files


def _django_outputs(django: dict[str, Any] | None) -> list[Output]:
    """A Django site's manage.py, wsgi.py, settings snippets and Apache configuration."""
    if django is None:
        return []
    files = [
        Output("django-manage.j2", "django/manage.py"),
        Output("django-wsgi.j2", "django/wsgi.py"),
        Output("apache-site.j2", f"apache/{django['site']}-alias-only.conf"),
        Output("apache.postinst.j2", f"{django['apache']}.postinst"),
        Output("apache.postrm.j2", f"{django['apache']}.postrm"),
    ]
    files += [
        Output("django-settings.j2", f"django/settings.d/{s['name']}", (("snippet", s),))
        for s in django["snippets"]
    ]
    return files


def render_tree(context: dict[str, Any], debian: Path, site: Path | None) -> None:
    env = environment(site)
    context = {**context, "functional": context["project"] in FUNCTIONAL}
    for output in outputs(context):
        text = rendering.render(env, output.template, {**context, **dict(output.extra)})
        path = debian / output.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if output.path in EXECUTABLE:
            path.chmod(0o755)
