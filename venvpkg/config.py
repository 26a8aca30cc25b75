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

DEFAULT_CONFIG = Path("venvpkg.toml")
DEFAULT_INDEX = "https://pypi.org/simple/"


@dataclass(frozen=True)
class Settings:
    """Options every command shares."""

    workdir: Path = Path("venvpkg-work")
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    index_url: str = DEFAULT_INDEX
    json: bool = False
    debug: bool = False
    verbosity: int = 0
    config_file: Path | None = None
    # Per-command tables from venvpkg.toml ([release], ...), kept raw for the stage to read.
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        return self.sections.get(name, {})

    @property
    def scratch(self) -> str | None:
        """[build] scratch: where chroots and packages are unpacked (default: a tmpfs with room)."""
        value = self.section("build").get("scratch")
        return str(value) if value else None


# Environment variables and the setting each feeds.
ENVIRONMENT = {
    "VENVPKG_WORKDIR": "workdir",
    "VENVPKG_JOBS": "jobs",
    "VENVPKG_INDEX_URL": "index_url",
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
    },
    "debianize": PROJECT_KEYS,
    "build": {"backend": "string", "scratch": "string"},
    "lintian": {"allow": "table of strings"},
    "publish": {"repository": "string", "key": "string", "gnupghome": "string"},
    "chroot": {"mirror": "string", "max-age-days": "number"},
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
        if name == "projects":
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
            known = ["projects", *SECTIONS]
            raise DataError(
                f"{path}: unknown table [{name}]{_close(name, known)}", f"known: {known}"
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
    config_path = flags.get("config_file") or environ.get("VENVPKG_CONFIG")
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    if config_path or path.exists():
        document = read_config_file(path)
        for key, value in document.get("venvpkg", {}).items():
            name = key.replace("-", "_")
            values[name] = _convert(name, value, str(path))
        values["sections"] = {k: v for k, v in document.items() if k != "venvpkg"}
        values["config_file"] = path
    for variable, name in ENVIRONMENT.items():
        if environ.get(variable):
            values[name] = _convert(name, environ[variable], variable)
    for name, value in flags.items():
        if value is not None and name != "config_file":
            values[name] = _convert(name, value, "command line")
    # Stages run tools in other directories; a relative workdir would point elsewhere there.
    if "workdir" in values:
        values["workdir"] = Path(values["workdir"]).absolute()
    else:
        values["workdir"] = Settings.workdir.absolute()
    return Settings(**values)
