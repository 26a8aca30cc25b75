"""Dependency closure under constraints, with pip-tools (the design card's resolver).

Results are cached and reused while the constraints of every name they contain stay the
same, so a bumped pin outside a closure does not cost a new resolution.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from venvpkg import runner
from venvpkg.errors import CommandFailed, UsageError, VenvpkgError
from venvpkg.store import atomic_write_text
from venvpkg.targets import Target


class ResolutionFailed(VenvpkgError):
    """pip-compile found no consistent set of versions."""


def _key(requirements: list[str], frozen: str, index_url: str, target: Target) -> str:
    text = json.dumps([sorted(requirements), frozen, index_url, target.name])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _still_valid(result: dict[str, str], pins: Mapping[NormalizedName, Version]) -> bool:
    """A cached closure holds while every name in it keeps the pin it was resolved with."""
    return all(
        str(pins[name]) == version  # type: ignore[index]
        for name, version in result.items()
        if name in pins
    )


def parse_compiled(text: str) -> dict[NormalizedName, Version]:
    """name -> version from pip-compile output (markers and comments dropped)."""
    found: dict[NormalizedName, Version] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        spec = next(iter(requirement.specifier))
        found[canonicalize_name(requirement.name)] = Version(spec.version)
    return found


def closure(
    requirements: list[str],
    pins: Mapping[NormalizedName, Version],
    extra_constraints: str,
    *,
    index_url: str,
    target: Target,
    workdir: Path,
    log: Path,
) -> dict[NormalizedName, Version]:
    """Every distribution `requirements` need, pinned by `pins` where they have one."""
    if sys.version_info[:2] != target.python:
        raise UsageError(
            f"resolving for python{target.python[0]}.{target.python[1]} needs venvpkg running "
            f"on that Python (it runs on {sys.version_info[0]}.{sys.version_info[1]})",
            f"install venvpkg with {target.interpreter} -m venv",
        )
    cache = (
        workdir
        / "cache"
        / "resolve"
        / f"{_key(requirements, extra_constraints, index_url, target)}.json"
    )
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if _still_valid(cached, pins):
            return {canonicalize_name(n): Version(v) for n, v in cached.items()}
    result = _compile(requirements, pins, extra_constraints, index_url, workdir, log)
    atomic_write_text(cache, json.dumps({n: str(v) for n, v in sorted(result.items())}, indent=1))
    return result


def _compile(
    requirements: list[str],
    pins: Mapping[NormalizedName, Version],
    extra_constraints: str,
    index_url: str,
    workdir: Path,
    log: Path,
) -> dict[NormalizedName, Version]:
    scratch = workdir / "tmp" / f"resolve-{hashlib.sha256(log.name.encode()).hexdigest()[:8]}"
    scratch.mkdir(parents=True, exist_ok=True)
    constraints = scratch / "constraints.txt"
    constraints.write_text(
        "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))
        + extra_constraints
    )
    wanted = scratch / "requirements.in"
    wanted.write_text("".join(f"{r}\n" for r in requirements))
    output = scratch / "requirements.txt"
    output.unlink(missing_ok=True)
    command: list[str | os.PathLike[str]] = [
        sys.executable,
        "-m",
        "piptools",
        "compile",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--allow-unsafe",
        "--strip-extras",
        "--no-emit-index-url",
        "--index-url",
        index_url,
        "--constraint",
        constraints,
        "--output-file",
        output,
        wanted,
    ]
    try:
        runner.run(command, log=log, env=runner.pip_environment(), cwd=scratch)
    except CommandFailed as error:
        reason = next(
            (
                line
                for line in reversed(error.tail)
                if "conflict" in line.lower()
                or "could not find" in line.lower()
                or "no matching" in line.lower()
            ),
            error.tail[-1] if error.tail else "pip-compile failed",
        )
        raise ResolutionFailed(
            f"cannot resolve {', '.join(requirements)}: {reason.strip()}", f"see {log}"
        ) from None
    return parse_compiled(output.read_text())
