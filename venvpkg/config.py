"""Settings: defaults < venvpkg.toml < environment < command line.

The result is a frozen dataclass so every stage sees one consistent view.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from venvpkg.errors import DataError, UsageError
from venvpkg.workdir import Workdir

DEFAULT_CONFIG = Path("venvpkg.toml")
DEFAULT_INDEX = "https://pypi.org/simple/"


DEFAULT_MAINTAINER = "venvpkg builders <venvpkg@debian.invalid>"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BACKENDS = ("sbuild", "host")


@dataclass(frozen=True)
class ChrootSettings:
    """[chroot]: where chroots come from and when they are remade."""

    mirror: str = DEFAULT_MIRROR
    max_age_days: float = 7.0


@dataclass(frozen=True)
class DataSettings:
    """[data]: where `venvpkg update` fetches the data venvpkg decides from (a mirror's
    URL, or a local repository)."""

    releases: str = "https://opendev.org/openstack/releases"
    requirements: str = "https://opendev.org/openstack/requirements"


@dataclass(frozen=True)
class BuildSettings:
    """[build] and [lintian]: how packages are built and which lintian tags a site accepts."""

    backend: str = "sbuild"
    # Where chroots and packages are unpacked (default: a tmpfs with room).
    scratch: str | None = None
    # lintian tag -> the reason the site accepts it.
    lintian_allow: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishSettings:
    """[publish]: the repository and the key that signs it (default: generated)."""

    repository: Path | None = None
    key: str | None = None
    gnupghome: Path | None = None


@dataclass(frozen=True)
class ProjectSettings:
    """[debianize] < [projects.NAME]: how one project is packaged."""

    epoch: int = 90
    maintainer: str = DEFAULT_MAINTAINER
    extras: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    # What the venv takes beyond the project's own requirements (keystone: python-memcached).
    extra_packages: tuple[str, ...] = ()
    templates: str | None = None
    patches: str | None = None
    # name -> version replacing the wheelhouse's pin (a security fix).
    pins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Options every command shares, and each stage's own table, typed once."""

    workdir: Path = Path("venvpkg-work")
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    index_url: str = DEFAULT_INDEX
    json: bool = False
    debug: bool = False
    verbosity: int = 0
    config_file: Path | None = None
    # The Debian release commands build for when they name none (else the series' own).
    target: str | None = None
    chroot: ChrootSettings = ChrootSettings()
    build: BuildSettings = BuildSettings()
    publish: PublishSettings = PublishSettings()
    data: DataSettings = DataSettings()
    # The [debianize] table and each [projects.NAME] table, checked but not yet merged.
    project_tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # [overrides.DIST-SERIES]: the site's pin overrides (release/overrides.py reads them).
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def paths(self) -> Workdir:
        return Workdir(self.workdir)

    def project(self, name: str, builtin: Mapping[str, Any] | None = None) -> ProjectSettings:
        """Built-in defaults < [debianize] < [projects.NAME] for one project."""
        merged = {**(builtin or {}), **self.project_tables.get("", {})}
        merged |= self.project_tables.get(name, {})
        values = {key.replace("-", "_"): value for key, value in merged.items()}
        for key in ("extras", "depends", "extra_packages"):
            if key in values:
                values[key] = tuple(values[key])
        return ProjectSettings(**values)


# Environment variables and the setting each feeds.
ENVIRONMENT = {
    "VENVPKG_WORKDIR": "workdir",
    "VENVPKG_JOBS": "jobs",
    "VENVPKG_INDEX_URL": "index_url",
    "VENVPKG_TARGET": "target",
}

_CONVERT = {"workdir": Path, "jobs": int, "index_url": str, "verbosity": int}

# What each table of venvpkg.toml may hold, and of which kind. A typo in a key or a
# string where a list belongs would otherwise be ignored or misread much later.
PROJECT_KEYS = {
    "epoch": "integer",
    "maintainer": "string",
    "extras": "list of strings",
    "depends": "list of strings",
    "extra-packages": "list of strings",
    "templates": "string",
    "patches": "string",
    "pins": "table of strings",
}
SECTIONS: dict[str, dict[str, str]] = {
    # [venvpkg] keys are read with "-" as "_" (index-url = index_url).
    "venvpkg": {
        "workdir": "string",
        "jobs": "integer",
        "index_url": "string",
        "verbosity": "integer",
        "target": "string",
    },
    "debianize": PROJECT_KEYS,
    "build": {"backend": "string", "scratch": "string"},
    "lintian": {"allow": "table of strings"},
    "publish": {"repository": "string", "key": "string", "gnupghome": "string"},
    "chroot": {"mirror": "string", "max-age-days": "number"},
    "data": {"releases": "string", "requirements": "string"},
}
_KINDS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "list of strings": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "table of strings": lambda v: (
        isinstance(v, dict) and all(isinstance(i, str) for i in v.values())
    ),
}


def _convert(name: str, value: Any, origin: str) -> Any:
    convert = _CONVERT.get(name)
    if convert is None:
        return value
    if name in ("workdir", "index_url") and not str(value):
        raise UsageError(f"{origin}: {name} is empty", "give a value, or leave it out")
    try:
        converted = convert(value)
    except (TypeError, ValueError):
        raise UsageError(f"{origin}: {name} = {value!r} is not valid", "fix the value") from None
    if name == "jobs" and converted < 1:
        raise UsageError(f"{origin}: jobs must be at least 1, not {converted}", "use -j 1 or more")
    if name == "index_url" and not _is_index_url(converted):
        raise UsageError(
            f"{origin}: index URL {converted!r} is not an http(s):// or file:// URL",
            "give one like https://pypi.org/simple/",
        )
    if name == "workdir":
        return converted.expanduser()
    return converted


def _is_index_url(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme in ("http", "https") and parts.netloc) or parts.scheme == "file"


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse venvpkg.toml; a syntax error names the file and line."""
    try:
        with path.open("rb") as stream:
            document = tomllib.load(stream)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist", "check --config") from None
    except OSError as error:
        raise UsageError(
            f"cannot read config file {path}: {error.strerror}", "check --config"
        ) from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: {error}", "fix the TOML syntax") from None
    _check_tables(document, path)
    return document


def _check_tables(document: Mapping[str, Any], path: Path) -> None:
    for name, table in document.items():
        if not isinstance(table, dict):
            raise DataError(f"{path}: {name} must be a table ([{name}])", "see README.rst")
        if name == "overrides":
            _check_subtables(name, table, path)
        elif name == "projects":
            for project, options in table.items():
                if not isinstance(options, dict):
                    raise DataError(
                        f"{path}: projects.{project} must be a table ([projects.{project}])",
                        "see README.rst",
                    )
                _check_keys(f"projects.{project}", options, PROJECT_KEYS, path)
        elif name in SECTIONS:
            _check_keys(name, table, SECTIONS[name], path)
        else:
            known = ["projects", "overrides", *SECTIONS]
            raise DataError(
                f"{path}: unknown table [{name}]{_close(name, known)}", f"known: {known}"
            )


def _check_subtables(name: str, table: Mapping[str, Any], path: Path) -> None:
    for key, value in table.items():
        if not isinstance(value, dict):
            raise DataError(
                f"{path}: {name}.{key} must be a table ([{name}.{key}])", "see README.rst"
            )


def _check_keys(where: str, table: Mapping[str, Any], kinds: Mapping[str, str], path: Path) -> None:
    for key, value in table.items():
        kind = kinds.get(key.replace("-", "_") if where == "venvpkg" else key)
        if kind is None:
            raise DataError(
                f"{path}: unknown setting {where}.{key}{_close(key, list(kinds))}",
                f"known: {sorted(kinds)}",
            )
        if not _KINDS[kind](value):
            article = "an" if kind[0] in "aeiou" else "a"
            raise DataError(
                f"{path}: {where}.{key} = {value!r} must be {article} {kind}", "fix the value"
            )


def _close(name: str, known: list[str]) -> str:
    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Merge the four layers; `flags` holds only options given on the command line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    document: Mapping[str, Any] = {}
    config_path = flags.get("config_file") or environ.get("VENVPKG_CONFIG")
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    if config_path or path.exists():
        document = read_config_file(path)
        for key, value in document.get("venvpkg", {}).items():
            name = key.replace("-", "_")
            values[name] = _convert(name, value, str(path))
        values["config_file"] = path
    for variable, name in ENVIRONMENT.items():
        if environ.get(variable):
            values[name] = _convert(name, environ[variable], variable)
    for name, value in flags.items():
        if value is not None and name != "config_file":
            values[name] = _convert(name, value, "command line")
    # Stages run tools in other directories; a relative workdir would point elsewhere there.
    values["workdir"] = Path(values.get("workdir", Settings.workdir)).absolute()
    return Settings(**values, **_stage_settings(document, environ))


def _stage_settings(document: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The stages' tables of venvpkg.toml, with the environment over the file."""
    chroot = dict(document.get("chroot", {}))
    build = dict(document.get("build", {}))
    publish = dict(document.get("publish", {}))
    allow = dict(document.get("lintian", {}).get("allow", {}))
    for tag, reason in allow.items():
        if not reason.strip():
            raise UsageError(
                f"[lintian.allow] {tag} has no reason", f'write {tag} = "why this is acceptable"'
            )
    if build.get("backend", "sbuild") not in BACKENDS:
        raise UsageError(
            f"unknown backend {build['backend']!r}", f"choose one of {', '.join(BACKENDS)}"
        )
    mirror = environ.get("VENVPKG_MIRROR") or chroot.get("mirror", DEFAULT_MIRROR)
    tables = {name: dict(table) for name, table in document.get("projects", {}).items()}
    return {
        "chroot": ChrootSettings(str(mirror).rstrip("/"), float(chroot.get("max-age-days", 7.0))),
        "build": BuildSettings(build.get("backend", "sbuild"), build.get("scratch") or None, allow),
        "publish": PublishSettings(
            Path(publish["repository"]).absolute() if publish.get("repository") else None,
            publish.get("key"),
            Path(publish["gnupghome"]).expanduser() if publish.get("gnupghome") else None,
        ),
        "data": DataSettings(**dict(document.get("data", {}))),
        "project_tables": {"": dict(document.get("debianize", {})), **tables},
        "overrides": dict(document.get("overrides", {})),
    }
