"""Per-series override sets: pins that cannot build or import on a target's Python,
replaced by the closest version that works, each with its reason; where no version can
work there (typed-ast 1.1.0 for queens' mypy on Python 3.9), the set omits the pin, saying why.

venvpkg ships one set per target and series (data/overrides/DIST-SERIES.toml); a site
adds entries or cancels shipped ones in venvpkg.toml's [overrides.DIST-SERIES]. A set may
also name Debian packages a build needs that the branch's bindep.txt leaves out.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from venvpkg.errors import DataError, UsageError
from venvpkg.release.requirements import Pin


@dataclass(frozen=True)
class Override:
    """One replaced pin."""

    name: NormalizedName
    version: Version | None  # None: omitted from the wheelhouse
    reason: str
    origin: str

    def line(self, pinned: Version) -> str:
        chosen = self.version or "omitted"
        return f"{self.name} {pinned} -> {chosen}  # {self.reason} ({self.origin})"


@dataclass(frozen=True)
class OverrideSet:
    pins: tuple[Override, ...] = ()
    # Debian package -> why a build needs it.
    build_packages: tuple[tuple[str, str], ...] = ()

    def apply(self, constraints: Mapping[NormalizedName, Pin]) -> dict[NormalizedName, Pin]:
        """The constraints with each override's version in place of the branch's."""
        replaced = dict(constraints)
        for override in self.pins:
            pin = constraints.get(override.name)
            if pin is None:
                raise UsageError(
                    f"override {override.name} ({override.origin}): the branch does not pin it",
                    "remove the entry, or check the name",
                )
            if override.version is None:
                del replaced[override.name]
                continue
            replaced[override.name] = Pin(pin.name, pin.project, override.version, override.origin)
        return replaced

    def listing(self, constraints: Mapping[NormalizedName, Pin]) -> str:
        """overrides.txt: what was replaced, by what, and why."""
        lines = [o.line(constraints[o.name].version) for o in self.pins]
        lines += [f"build-depends {name}  # {reason}" for name, reason in self.build_packages]
        return "".join(f"{line}\n" for line in lines)


def load(dist: str, series: str, site: Mapping[str, Any]) -> OverrideSet:
    """The shipped set for DIST-SERIES, with the site's entries over it."""
    key = f"{dist}-{series}"
    shipped = _shipped(key)
    pins = {o.name: o for o in _pins(shipped.get("pins", {}), f"venvpkg's {key}.toml")}
    for raw, entry in site.get(key, {}).items():
        where = f"venvpkg.toml [overrides.{key}] {raw}"
        if isinstance(entry, dict) and entry.get("cancel") is True:
            if pins.pop(canonicalize_name(raw), None) is None:
                raise UsageError(f"{where}: venvpkg ships no such override", "remove the entry")
            continue
        override = _override(raw, entry, where)
        pins[override.name] = override
    packages = shipped.get("build-packages", {})
    return OverrideSet(tuple(sorted(pins.values(), key=lambda o: o.name)), tuple(packages.items()))


def _shipped(key: str) -> dict[str, Any]:
    path = resources.files("venvpkg").joinpath("data", "overrides", f"{key}.toml")
    if not path.is_file():
        return {}
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _pins(table: Mapping[str, Any], origin: str) -> list[Override]:
    return [_override(name, entry, f"{origin} {name}") for name, entry in table.items()]


def _override(name: str, entry: Any, where: str) -> Override:
    omitted = isinstance(entry, dict) and set(entry) == {"omit", "reason"} and entry["omit"] is True
    if not omitted and (not isinstance(entry, dict) or set(entry) != {"version", "reason"}):
        raise DataError(
            f'{where}: an override is {{ version = "…", reason = "…" }}, '
            '{ omit = true, reason = "…" } or { cancel = true }',
            "fix the entry",
        )
    version = None
    if not omitted:
        try:
            version = Version(str(entry["version"]))
        except InvalidVersion:
            raise DataError(f"{where}: {entry['version']!r} is not a version", "fix it") from None
    if not str(entry["reason"]).strip():
        raise DataError(f"{where}: the reason is empty", "say why the pin is replaced")
    return Override(canonicalize_name(name), version, str(entry["reason"]), where.rsplit(" ", 1)[0])
