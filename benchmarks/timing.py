"""What every benchmark shares: a clean pip environment and a timed venvpkg run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The host's pip configuration points at a local wheel directory; a user's does not.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def run(workdir: Path, *args: str) -> tuple[float, int, dict[str, Any], str]:
    """One venvpkg run with --json: wall time, exit code, summary and stderr."""
    began = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "venvpkg", "--workdir", str(workdir), "--json", *args],
        capture_output=True,
        text=True,
        env=ENV,
    )
    elapsed = time.monotonic() - began
    text = out.stdout.strip()
    summary = json.loads(text) if text.startswith(("{", "[")) else {}
    return elapsed, out.returncode, summary, out.stderr


def venvpkg(workdir: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """Run the real command line with --json; return its wall time and its summary."""
    elapsed, code, summary, stderr = run(workdir, *args)
    if code:
        sys.exit(f"venvpkg {' '.join(args)} failed:\n{stderr[-3000:]}")
    return elapsed, summary
