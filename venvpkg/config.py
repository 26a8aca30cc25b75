"""Settings: defaults < venvpkg.toml < environment < command line.

The result is a frozen dataclass so every stage sees one consistent view.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

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


def _convert(name: str, value: Any, origin: str) -> Any:
    convert = _CONVERT.get(name)
    if convert is None:
        return value
    try:
        converted = convert(value)
    except (TypeError, ValueError):
        raise UsageError(f"{origin}: {name} = {value!r} is not valid", "fix the value") from None
    if name == "jobs" and converted < 1:
        raise UsageError(f"{origin}: jobs must be at least 1, not {converted}", "use -j 1 or more")
    return converted


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse venvpkg.toml; a syntax error names the file and line."""
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist", "check --config") from None
    except tomllib.TOMLDecodeError as error:
        raise DataError(f"{path}: {error}", "fix the TOML syntax") from None


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Merge the four layers; `flags` holds only options given on the command line."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = flags.get("config_file") or environ.get("VENVPKG_CONFIG")
    path = Path(config_path) if config_path else DEFAULT_CONFIG
    if config_path or path.exists():
        document = read_config_file(path)
        known = {f.name for f in fields(Settings)} - {"sections", "config_file", "json", "debug"}
        top = document.get("venvpkg", {})
        for key, value in top.items():
            name = key.replace("-", "_")
            if name not in known:
                raise DataError(f"{path}: unknown setting venvpkg.{key}", f"known: {sorted(known)}")
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
