"""A project split as Debian's own package of it is: the binary packages Debian builds,
the units each carries and what each unit runs, read from the archive (archive.py) and
checked against what this release of the project ships.

A unit whose tool the project no longer ships is an error, unless layouts.toml records
it under `gone` with the reason: a Debian split that drifted from upstream must be
noticed, not silently half-built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from venvpkg.debianize.archive import Binary, DebianSource
from venvpkg.debianize.model import ProjectModel, wsgi_script_name
from venvpkg.errors import DataError

# Debian's own helpers (octavia-agent's netns and ramfs units run /usr/sbin scripts of
# the Debian package): nothing from the project to run.
PROJECT_TOOL = re.compile(r"^/usr/bin/[^/]+$")
# Arguments that place Debian's config files; venvpkg's units pass the project's own.
PLACEMENT_ARGS = re.compile(r"--(?:config-file|log-file|config-dir)(?:[= ]\S+)?")


@dataclass(frozen=True)
class UnitPlan:
    """One unit of Debian's, as venvpkg will run it."""

    name: str
    script: str = ""
    args: str = ""
    wsgi_module: str = ""  # the WSGI module, or "" when pbr's script serves
    wsgi_file: str = ""
    port: int = 0


@dataclass(frozen=True)
class Split:
    common: str
    # Debian's binary packages venvpkg builds, with the units of each, in Debian's order.
    packages: dict[str, tuple[UnitPlan, ...]]
    # Packages with neither units nor tools (glance, designate): they pull in the services.
    meta: tuple[str, ...]
    # Console scripts Debian puts into a package other than the common one.
    tool_homes: dict[str, str]
    # (unit, why) left out: the layout says the release no longer ships its tool.
    left_out: tuple[tuple[str, str], ...]


def split(model: ProjectModel, source: DebianSource, entry: dict[str, Any]) -> Split:
    names = set(source.names)
    # layouts.toml names it where Debian has no PROJECT-common (horizon: openstack-dashboard).
    common = entry.get("common") or next(
        (c for c in (f"{model.name}-common", model.name) if c in names), f"{model.name}-common"
    )
    gone: dict[str, str] = entry.get("gone", {})
    packages: dict[str, tuple[UnitPlan, ...]] = {}
    meta, left_out = [], []
    for binary in source.binaries:
        if _not_ours(binary, model.name):
            continue
        planned = []
        for unit, run in binary.units:
            name = unit.removesuffix(".service")
            if name in gone:
                left_out.append((name, gone[name]))
                continue
            plan = _unit(model, source, name, run)
            if plan is not None:
                planned.append(plan)
        if planned or binary.name == common:
            packages[binary.name] = tuple(planned)
        elif not binary.units and not binary.tools:
            meta.append(binary.name)
        elif binary.tools:
            packages[binary.name] = ()
    if common not in packages:
        packages[common] = ()
    homes = {
        tool: binary.name
        for binary in source.binaries
        if binary.name in packages and binary.name != common
        for tool in binary.tools
        if tool in model.console_scripts
    }
    return Split(common, packages, tuple(meta), homes, tuple(left_out))


def _not_ours(binary: Binary, project: str) -> bool:
    """Documentation, and the Python module package (venvpkg's holds compatibility links)."""
    return binary.name.endswith("-doc") or binary.name in (
        f"python3-{project}",
        f"python3-django-{project}",
    )


def _unit(
    model: ProjectModel, source: DebianSource, name: str, run: dict[str, Any]
) -> UnitPlan | None:
    if "alias" in run or name.endswith("@"):
        return None  # another name for a unit, or a template for instances
    if run.get("uwsgi"):
        return _wsgi_unit(model, source, name, run)
    command = str(run.get("exec", ""))
    if not PROJECT_TOOL.match(command):
        return None
    script = command.rpartition("/")[2]
    if script not in model.console_scripts:
        raise DataError(
            f"Debian's {name} ({source.dist} {source.name} {source.version}) runs {script}, "
            f"which {model.name} {model.version} does not ship",
            f'record it in layouts.toml: [{model.name}] gone = {{ {name} = "why" }}',
        )
    args = PLACEMENT_ARGS.sub("", str(run.get("args", ""))).strip()
    return UnitPlan(name, script=script, args=" ".join(args.split()))


def _wsgi_unit(
    model: ProjectModel, source: DebianSource, name: str, run: dict[str, Any]
) -> UnitPlan:
    app = str(run.get("wsgi_app", ""))
    tail = name.removeprefix(f"{model.name}-").split("-")
    modules = {m.rsplit(".", 1)[1]: m for m in model.wsgi_modules}
    module = next((modules[t] for t in reversed(tail) if t in modules), "")
    if not module and len(model.wsgi_modules) == 1:
        module = model.wsgi_modules[0]
    # Debian's uwsgi loads a script from /usr/bin (keystone-wsgi-public); its name is
    # kept. A file of Debian's own elsewhere (aodh's app.wsgi) is not: ours is named
    # as Debian names scripts.
    file = app.rpartition("/")[2] if app.startswith("/usr/bin/") else ""
    if not file and module:
        file = wsgi_script_name(model.name, module)
    if not module and file not in model.wsgi_scripts:
        raise DataError(
            f"Debian's {name} ({source.dist} {source.name} {source.version}) serves "
            f"{app or 'a WSGI application'}, and {model.name} {model.version} has neither "
            f"a WSGI module nor the script {file or '(unnamed)'}",
            f'record it in layouts.toml: [{model.name}] gone = {{ {name} = "why" }}',
        )
    return UnitPlan(
        name,
        wsgi_module=module,
        wsgi_file=file,
        port=int(run.get("port") or 0),
    )
