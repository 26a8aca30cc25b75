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


def venvpkg(workdir: Path, *args: str) -> tuple[float, dict[str, Any]]:
    """Run the real command line with --json; return its wall time and its summary."""
    began = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "venvpkg", "--workdir", str(workdir), "--json", *args],
        capture_output=True,
        text=True,
        env=ENV,
    )
    elapsed = time.monotonic() - began
    if out.returncode:
        sys.exit(f"venvpkg {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    summary = json.loads(out.stdout) if out.stdout.strip().startswith(("{", "[")) else {}
    return elapsed, summary
