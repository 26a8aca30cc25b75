"""The only place that starts external processes.

Every command is logged to a file; on failure the error carries the last lines of
output and the log path, so the user sees why without wading through the whole log.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import psutil
import sh

from venvpkg.errors import CommandFailed, ToolMissing

# Which Debian package provides each program we call, for the "install it" hint.
APT_PACKAGES = {
    "dpkg-buildpackage": "dpkg-dev",
    "dpkg-source": "dpkg-dev",
    "dpkg-deb": "dpkg",
    "dpkg-query": "dpkg",
    "dh": "debhelper",
    "fakeroot": "fakeroot",
    "lintian": "lintian",
    "git": "git",
    "apt-get": "apt",
    "sbuild": "sbuild",
    "mmdebstrap": "mmdebstrap",
    "reprepro": "reprepro",
    "gpg": "gnupg",
    "gpgconf": "gpgconf",
    "newuidmap": "uidmap",
}

TAIL_LINES = 60

# Commands running now, from any thread: a SIGTERM reaches only the main thread, which
# must stop what the worker threads started too.
_LIVE: dict[int, sh.RunningCommand] = {}
_LIVE_LOCK = threading.RLock()


def tool_path(program: str) -> str:
    """Absolute path of `program`, or ToolMissing naming the apt package to install."""
    if os.sep in program:
        if os.access(program, os.X_OK):
            return program
        found = None
    else:
        found = shutil.which(program)
    if found is None:
        package = APT_PACKAGES.get(os.path.basename(program))
        hint = f"install it: apt-get install {package}" if package else "install it"
        raise ToolMissing(f"{program} not found", hint)
    return found


def pip_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for any pip we start: no user or host pip configuration leaks in.

    Hosts often carry a pip.conf or PIP_FIND_LINKS pointing at private wheel
    directories; honouring them would make our wheelhouse differ from a user's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


def output_since(log: Path, start: int) -> str:
    """What a log gained after byte `start`: one command's output in a shared log."""
    with log.open("rb") as stream:
        stream.seek(start)
        return stream.read().decode("utf-8", "replace")


def _tail(log: Path, start: int) -> list[str]:
    lines = output_since(log, start).splitlines()
    return [line for line in lines if line.strip()][-TAIL_LINES:]


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run `command`, appending its combined output to `log`; return that output.

    Raises CommandFailed (with the tail of the output) on a non-zero exit.
    """
    args = [os.fspath(part) for part in command]
    program = sh.Command(tool_path(args[0]))
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        stream.write(f"$ {shlex.join(args)}\n".encode())
        stream.flush()
        start = stream.tell()
        began = time.monotonic()
        process = program(
            *args[1:],
            _out=stream,
            _err_to_out=True,
            _cwd=os.fspath(cwd) if cwd else None,
            _env=dict(env) if env is not None else dict(os.environ),
            _in=None,
            _bg=True,
            _bg_exc=False,
        )
        with _LIVE_LOCK:
            _LIVE[id(process)] = process
        try:
            process.wait(timeout=timeout)
        except sh.ErrorReturnCode as error:
            stream.flush()
            tail = _tail(log, start)
            stream.write(f"# exit {error.exit_code}\n".encode())
            name = os.path.basename(args[0])
            raise CommandFailed(f"{name} failed (exit {error.exit_code})", log, tail) from None
        except sh.TimeoutException:
            stop_tree(process)
            raise CommandFailed(
                f"{os.path.basename(args[0])} timed out after {timeout}s", log, _tail(log, start)
            ) from None
        except BaseException:
            stop_tree(process)
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(id(process), None)
        end = stream.tell()
        stream.write(f"# ok in {time.monotonic() - began:.1f}s\n".encode())
    with log.open("rb") as stream:
        stream.seek(start)
        return stream.read(end - start).decode("utf-8", "replace")


def stop_tree(process: sh.RunningCommand, grace: float = 10.0) -> None:
    """Stop a command and every process it started: SIGTERM, then SIGKILL after `grace`.

    Killing the command alone orphans its children: pip's build backend and gcc, or
    sbuild's chroot session, would run on and hold files we are about to remove. The
    SIGTERM first lets sbuild and dpkg clean up after themselves.
    """
    _stop_tree(_ShCommand(process), grace)


class _ShCommand:
    """An sh command seen through Popen's names, so both stop the same way."""

    def __init__(self, process: sh.RunningCommand) -> None:
        self.process = process
        self.pid = process.pid

    def send_signal(self, number: int) -> None:
        # sh reaps the command, so a finished one's pid may already be someone else's.
        if self.process.is_alive():
            self.process.signal(number)

    def wait(self, timeout: float | None) -> None:
        # sh reaps the command; psutil must not, or sh would wait for a pid that is gone.
        with contextlib.suppress(sh.ErrorReturnCode, sh.TimeoutException):
            self.process.wait(timeout=timeout)


class _Waitable(Protocol):
    pid: int

    def send_signal(self, number: int) -> None: ...

    def wait(self, timeout: float | None) -> object: ...


def _stop_tree(process: _Waitable, grace: float) -> None:
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    for child in tree:
        _signal(child, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)
    _gone, alive = psutil.wait_procs(tree, timeout=grace)
    for child in alive:
        _signal(child, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: return only once they are gone.
    psutil.wait_procs(alive, timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    process.wait(None)


def stop_all() -> None:
    """Stop every command still running, whichever thread started it."""
    with _LIVE_LOCK:
        running = list(_LIVE.values())
    for process in running:
        stop_tree(process)


def _signal(child: psutil.Process, number: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        child.send_signal(number)


def capture(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    ok_codes: Sequence[int] = (0,),
) -> str:
    """Run a quick query command and return its stdout.

    For read-only look-ups (dpkg-query, git log) whose output is data, not a log.
    """
    args = [os.fspath(part) for part in command]
    program = sh.Command(tool_path(args[0]))
    try:
        # sh gives stdout a pseudo-terminal by default: git then pages through less and
        # other programs may add colours, so the data would come back wrapped in escapes.
        result = program(
            *args[1:],
            _cwd=os.fspath(cwd) if cwd else None,
            _ok_code=list(ok_codes),
            _tty_out=False,
        )
        return str(result)
    except sh.ErrorReturnCode as error:
        detail = error.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CommandFailed(
            f"{os.path.basename(args[0])} failed (exit {error.exit_code})",
            Path(os.devnull),
            detail[-TAIL_LINES:],
        ) from None


def capture_bytes(command: Sequence[str | os.PathLike[str]]) -> bytes:
    """Run a command whose stdout is binary data (an archive) and return it whole."""
    # sh decodes output to text; archives need the raw bytes.
    args = [tool_path(os.fspath(command[0])), *(os.fspath(part) for part in command[1:])]
    completed = subprocess.run(args, capture_output=True, check=False)
    if completed.returncode:
        detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        name = os.path.basename(args[0])
        raise CommandFailed(
            f"{name} failed (exit {completed.returncode})", Path(os.devnull), detail[-TAIL_LINES:]
        )
    return completed.stdout


def passthrough(command: Sequence[str | os.PathLike[str]]) -> int:
    """Run a command on our own terminal (a nested venvpkg with its own display)."""
    args = [tool_path(os.fspath(command[0])), *(os.fspath(part) for part in command[1:])]
    process = subprocess.Popen(args)
    try:
        return process.wait()
    except BaseException:
        # subprocess.run would SIGKILL it at once; a nested venvpkg needs its SIGTERM to
        # stop its own commands and drop what it half-wrote, and we must wait for that.
        _stop_tree(process, 10.0)
        raise
