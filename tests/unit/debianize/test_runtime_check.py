"""The runtime check a venv package runs at build time and in autopkgtest, run for real
with this Python on a small package written here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from venvpkg import rendering

TEMPLATES = Path(__file__).parents[3] / "templates" / "debian"

CLI = """
import argparse
import threading

# As eventlet.monkey_patch() in nova.cmd does: importing the module changes the
# standard library for the whole interpreter (here: no thread ever starts).
threading.Thread.start = lambda self: None


def main():
    argparse.ArgumentParser(prog="fix-ok").parse_args()
"""


def _check(
    tmp_path: Path, scripts: dict[str, str], wsgi: list[str]
) -> subprocess.CompletedProcess[str]:
    package = tmp_path / "fixmod"
    (package / "wsgi").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text(CLI)
    (package / "broken.py").write_text("import fixlib_gone\n\ndef main():\n    pass\n")
    (package / "wsgi" / "__init__.py").write_text("")
    (package / "wsgi" / "api.py").write_text("import fixlib_gone_too\napplication = None\n")
    script = tmp_path / "runtime-check"
    context = {
        "venv_dir": "/opt/venvs/fixmod",
        "project": "fixmod",
        "console_entry_points": scripts,
        "wsgi_entry_points": {},
        "wsgi_modules": wsgi,
    }
    script.write_text(
        rendering.render(rendering.environment([TEMPLATES]), "runtime-check.j2", context)
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_script_that_patches_the_standard_library_does_not_stop_the_check(
    tmp_path: Path,
) -> None:
    done = _check(tmp_path, {"fix-ok": "fixmod.cli:main", "fix-also": "fixmod.cli:main"}, [])
    assert done.returncode == 0, done.stderr
    assert "2 of 2 scripts and WSGI modules run" in done.stdout


def test_each_broken_script_and_wsgi_import_is_named_with_its_error(tmp_path: Path) -> None:
    scripts = {"fix-ok": "fixmod.cli:main", "fix-broken": "fixmod.broken:main"}
    done = _check(tmp_path, scripts, ["fixmod.wsgi.api"])
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "runtime check: fix-broken: module fixmod.broken does not import: "
        "ModuleNotFoundError: No module named 'fixlib_gone'",
        "runtime check: fixmod.wsgi.api: its import fixlib_gone_too fails: "
        "ModuleNotFoundError: No module named 'fixlib_gone_too'",
    ]
    assert "1 of 3 scripts and WSGI modules run" in done.stdout


SERVER = """
import sys
import time


def main():
    # As octavia's prometheus-proxy: --help is ignored and the command serves.
    print("serving on :9102", flush=True)
    time.sleep(600)
"""


def test_a_script_that_serves_instead_of_answering_help_is_noted_once_its_time_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME_CHECK_HELP_TIMEOUT", "2")
    (tmp_path / "fixserve.py").write_text(SERVER)
    began = time.monotonic()
    done = _check(tmp_path, {"fix-ok": "fixmod.cli:main", "fix-serve": "fixserve:main"}, [])
    assert done.returncode == 0, done.stderr
    assert "2 of 2 scripts and WSGI modules run" in done.stdout
    assert "runtime check: note: fix-serve --help did not return in 2 s" in done.stderr
    # The load timeout (120 s) is not what ended it.
    assert time.monotonic() - began < 30
