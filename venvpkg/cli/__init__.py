"""Command line: argument parsing, progress display and exit codes, nothing else.

parser.py holds the words, commands.py what each command does; this module is the one
place where errors become messages and exit codes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from venvpkg import runner, targets, update
from venvpkg import workdir as workdir_layout
from venvpkg.cli import commands
from venvpkg.cli.parser import build_parser
from venvpkg.config import Settings, load_settings
from venvpkg.errors import BuildFailed, UsageError, VenvpkgError
from venvpkg.progress import Display

Handler = Callable[[argparse.Namespace, Settings, Display], int]


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "workdir": getattr(args, "workdir", None),
        "config_file": getattr(args, "config_file", None),
        "jobs": getattr(args, "jobs", None),
        "index_url": getattr(args, "index_url", None),
        "json": getattr(args, "json", False),
        "debug": getattr(args, "debug", False),
        "verbosity": getattr(args, "verbose", 0) - getattr(args, "quiet", 0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    display = Display(getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    _stop_on_termination()
    try:
        settings = load_settings(_flags(args))
        # What `venvpkg update` fetched into the workdir wins over the bundled data.
        update.use(settings)
        handler: Handler = args.handler
        if handler is not commands.cmd_series:
            _require_workdir(settings, display)
        return handler(args, settings, display)
    except VenvpkgError as error:
        _print_error(error, debug)
        return error.exit_code
    except OSError as error:
        # The machine refused (full disk, read-only mount, permissions): say what and where.
        if debug:
            traceback.print_exc()
        where = f": {error.filename}" if error.filename else ""
        print(f"venvpkg: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "venvpkg: interrupted; nothing half-written was kept, re-run to finish", file=sys.stderr
        )
        return 130


def _require_workdir(settings: Settings, display: Display) -> None:
    """Refuse a workdir we cannot write before any stage starts writing into it, and move
    one of the first layout to this one."""
    workdir = settings.workdir
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"workdir {workdir} cannot be made: {error.strerror}",
            "give --workdir (or VENVPKG_WORKDIR) a directory you can write",
        ) from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UsageError(
            f"workdir {workdir} is not writable",
            "give --workdir (or VENVPKG_WORKDIR) a directory you can write",
        )
    for moved in workdir_layout.migrate(settings.paths, tuple(targets.TARGETS)):
        display.info(f"workdir layout: moved {moved}")


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP end a run the way Ctrl-C does: children stopped, nothing
    half-written kept. Python's default would die at once and orphan them."""

    def stop(number: int, _frame: object) -> None:
        signal.signal(number, signal.SIG_IGN)
        runner.stop_all()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, stop)


def _print_error(error: VenvpkgError, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    for line in error.details if isinstance(error, BuildFailed) else []:
        print(f"  {line}", file=sys.stderr)
    print(f"venvpkg: error: {error.line()}", file=sys.stderr)


__all__ = ["UsageError", "build_parser", "main"]
