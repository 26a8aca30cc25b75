"""What a project provides, read from the wheel built from its own source.

Nothing here is typed by hand: console scripts and WSGI entry points come from the
dist-info, config files from its data files, config namespaces from its oslo.config
generator files or `oslo.config.opts` entry points.
"""

from __future__ import annotations

import configparser
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from venvpkg import metadata
from venvpkg.errors import DataError

WSGI_APPLICATION = re.compile(rb"^application\s*=", re.M)
GENERATOR_DIRS = ("etc/oslo-config-generator", "config-generator", "tools/config", "etc")


@dataclass(frozen=True)
class ConfigSample:
    """A sample config file generated with oslo-config-generator at build time."""

    filename: str
    namespaces: tuple[str, ...]


@dataclass(frozen=True)
class ProjectModel:
    name: str
    dist_name: str
    version: Version
    modules: tuple[str, ...]
    console_scripts: dict[str, str]
    wsgi_scripts: dict[str, str]
    wsgi_modules: tuple[str, ...]
    config_files: tuple[str, ...]
    samples: tuple[ConfigSample, ...]
    policy_namespaces: tuple[str, ...]
    requires: tuple[str, ...]
    # Files under the source tree's etc/ (keystone's logging.conf.sample), relative to it.
    source_etc: tuple[str, ...] = ()
    # Console scripts whose module the wheel does not ship (blazar 16's
    # blazar-rpc-zmq-receiver): removed from the venv and named, never packaged.
    dead_scripts: dict[str, str] = field(default_factory=dict)

    @property
    def has_rootwrap(self) -> bool:
        return f"{self.name}-rootwrap" in self.console_scripts


def wsgi_script_name(project: str, module: str) -> str:
    """Debian's name for a WSGI script: PROJECT-wsgi-LAST (glance-wsgi-api), or
    PROJECT-wsgi for a PROJECT.wsgi package."""
    last = module.rsplit(".", 1)[1]
    return f"{project}-wsgi" if last == "wsgi" else f"{project}-wsgi-{last}"


def read(name: str, wheel: Path, tree: Path) -> ProjectModel:
    """The model of `name` from its built wheel and unpacked source tree."""
    dist_name, version, _build, _tags = parse_wheel_filename(wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        if info is None:
            raise DataError(f"{wheel.name} has no dist-info metadata", "check the source")
        entry_points = _entry_points(archive, f"{info}/entry_points.txt")
        requires = metadata.from_core_metadata(archive.read(f"{info}/METADATA"))
        modules = _top_level(archive, names, info)
        wsgi = tuple(sorted(_wsgi_modules(archive, names, modules)))
        scripts = entry_points.get("console_scripts", {})
        dead = {n: t for n, t in scripts.items() if _missing_module(t, modules, names)}
    own = entry_points.get("oslo.config.opts", {})
    return ProjectModel(
        name=name,
        dist_name=str(dist_name),
        version=version,
        modules=modules,
        console_scripts={n: t for n, t in scripts.items() if n not in dead},
        wsgi_scripts=entry_points.get("wsgi_scripts", {}),
        wsgi_modules=wsgi,
        config_files=tuple(sorted(_config_files(names, info, name))),
        samples=_samples(tree, name, tuple(sorted(own))),
        policy_namespaces=tuple(sorted(entry_points.get("oslo.policy.policies", {}))),
        requires=tuple(requires),
        source_etc=_source_etc(tree),
        dead_scripts=dead,
    )


def _missing_module(target: str, modules: tuple[str, ...], names: list[str]) -> bool:
    """Whether an entry point names a module of the project's own that its wheel lacks
    (a module of a dependency is the runtime check's to judge)."""
    module = target.partition(":")[0].strip()
    if module.split(".")[0] not in modules:
        return False
    path = module.replace(".", "/")
    if f"{path}.py" in names or f"{path}/__init__.py" in names:
        return False
    return not any(n.startswith(f"{path}.") and n.endswith((".so", ".pyd")) for n in names)


def _source_etc(tree: Path) -> tuple[str, ...]:
    etc = tree / "etc"
    return tuple(sorted(str(p.relative_to(etc)) for p in etc.rglob("*") if p.is_file()))


def _entry_points(archive: zipfile.ZipFile, member: str) -> dict[str, dict[str, str]]:
    if member not in archive.namelist():
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(archive.read(member).decode())
    return {group: dict(parser[group]) for group in parser.sections()}


def _top_level(archive: zipfile.ZipFile, names: list[str], info: str) -> tuple[str, ...]:
    if f"{info}/top_level.txt" in names:
        listed = archive.read(f"{info}/top_level.txt").decode().split()
        return tuple(sorted(listed))
    return tuple(sorted({n.split("/")[0] for n in names if n.endswith("/__init__.py")}))


def _wsgi_modules(
    archive: zipfile.ZipFile, names: list[str], modules: tuple[str, ...]
) -> list[str]:
    """Modules under PACKAGE/wsgi/ that define `application` (served by module), or the
    PACKAGE.wsgi package itself when its __init__ does (ironic)."""
    found = []
    for module in modules:
        for name in names:
            parts = name.split("/")
            if (
                len(parts) == 3
                and parts[:2] == [module, "wsgi"]
                and name.endswith(".py")
                and WSGI_APPLICATION.search(archive.read(name))
            ):
                last = parts[2][:-3]
                found.append(f"{module}.wsgi" if last == "__init__" else f"{module}.wsgi.{last}")
    return found


def _config_files(names: list[str], info: str, project: str) -> list[str]:
    """Data files installed under etc/PROJECT, relative to it."""
    prefix = f"{info.removesuffix('.dist-info')}.data/data/etc/{project}/"
    return [n[len(prefix) :] for n in names if n.startswith(prefix) and not n.endswith("/")]


def _samples(tree: Path, project: str, own: tuple[str, ...]) -> tuple[ConfigSample, ...]:
    """oslo-config-generator files of the source tree, else one sample of its own namespaces."""
    found: list[ConfigSample] = []
    for directory in (*GENERATOR_DIRS, f"etc/{project}"):
        # neutron's agents have theirs as *.ini (l3_agent.ini, plugins/ml2/ml2_conf.ini).
        candidates = [*(tree / directory).glob("*.conf"), *(tree / directory).glob("*.ini")]
        for path in sorted(candidates):
            # Policy generator files look alike but feed oslopolicy-sample-generator.
            sample = None if "policy" in path.name else _generator_file(path)
            if sample and not any(s.filename == sample.filename for s in found):
                found.append(sample)
    if not found and own:
        found.append(ConfigSample(f"{project}.conf", own))
    return tuple(found)


def _generator_file(path: Path) -> ConfigSample | None:
    """A generator config lists `namespace = X` once per namespace, which configparser rejects."""
    text = path.read_text(errors="replace")
    if "[DEFAULT]" not in text or "namespace" not in text:
        return None
    namespaces = re.findall(r"^\s*namespace\s*=\s*(\S+)", text, re.M)
    output = re.search(r"^\s*output_file\s*=\s*(\S+)", text, re.M)
    if not namespaces or not output:
        return None
    # Keep the path under etc/PROJECT/ (neutron's plugins/ml2/ml2_conf.ini), as Debian does.
    produced = output.group(1).removesuffix(".sample")
    parts = produced.split("/")
    relative = "/".join(parts[2:]) if len(parts) > 2 and parts[0] == "etc" else parts[-1]
    return ConfigSample(relative, tuple(namespaces))
