"""lintian, as every stage that makes a .deb runs it: errors and warnings fail."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from venvpkg import runner
from venvpkg.errors import VenvpkgError
from venvpkg.scratch import private_dir


def check(
    deb: Path, log: Path, allow: Mapping[str, str] | None = None, scratch: str | None = None
) -> str:
    """Run lintian; errors and warnings fail, except tags the site allows (with a reason)."""
    suppress = ["--suppress-tags", ",".join(sorted(allow))] if allow else []
    # lintian unpacks every package it checks; a venv is thousands of files.
    packed = sum(p.stat().st_size for p in deb.parent.glob("*.deb"))
    try:
        # lintian leaves its ELF caches (mldbm-elf-*) in TMPDIR: a private one goes with them.
        with private_dir(scratch, 5 * packed + (1 << 30), "lintian") as tmpdir:
            command = ["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0"]
            runner.run(
                [*command, *suppress, deb],
                log=log,
                env=dict(os.environ, TMPDIR=str(tmpdir)),
            )
    except VenvpkgError as error:
        tags = [line for line in getattr(error, "tail", []) if line[:2] in ("E:", "W:")]
        raise VenvpkgError(
            f"lintian rejects {deb.name}: {'; '.join(tags[:3])}", f"see {log}"
        ) from None
    return f"clean, {len(allow)} allowed" if allow else "clean"
