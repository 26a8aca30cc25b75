"""The only place that starts external processes.

Every process starts through subprocess.Popen, not the `sh` library we used before:
sh gives stdout a pseudo-terminal by default, so git paged through less and the data
came back wrapped in escapes; it decodes output to text, so archives needed a second
path; it reaps children in its own thread, so psutil and it competed to wait for the
same process; and it cannot hand a child our own terminal while we keep the ability to
stop its tree. With Popen, one function starts every command, one registry knows what
is running and one routine stops a process tree, whichever way the output goes.

run() logs a command's combined output to a file; on failure the error carries the last
lines and the log path, so the user sees why without wading through the whole log.
capture() and capture_bytes() return stdout of quick queries; their errors carry the
command's own last stderr lines. passthrough() lends a nested command our terminal.
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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

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

# Seconds a stopped command gets between SIGTERM and SIGKILL: enough for sbuild to end
# its chroot session and for dpkg or a nested venvpkg to drop what they half-wrote.
STOP_GRACE = 10.0

Command = Sequence[str | os.PathLike[str]]
Process = subprocess.Popen[bytes]
Stream = int | IO[Any] | None

# Commands running now, from any thread: a SIGTERM reaches only the main thread, which
# must stop what the worker threads started too.
_LIVE: dict[int, Process] = {}
_LIVE_LOCK = threading.RLock()
# Set by stop_all(): a worker thread between two jobs must not start the next command.
_STOPPING = threading.Event()


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


def output_since(log: Path, start: int, end: int | None = None) -> str:
    """What a log gained after byte `start` (up to byte `end`): one command's output in a
    shared log."""
    with log.open("rb") as stream:
        stream.seek(start)
        data = stream.read() if end is None else stream.read(end - start)
    return data.decode("utf-8", "replace")


def run(
    command: Command,
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    grace: float = STOP_GRACE,
) -> str:
    """Run `command`, appending its combined output to `log`; return that output.

    Raises CommandFailed (with the tail of the output and the log path) on a non-zero
    exit or once `timeout` seconds have passed; a timed-out command is stopped with
    its tree, given `grace` seconds between SIGTERM and SIGKILL.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as stream:
        stream.write(f"$ {shlex.join(_words(command))}\n".encode())
        stream.flush()
        start = stream.tell()
        began = time.monotonic()
        code = _run_logged(command, stream, cwd, env, timeout, grace)
        end = stream.tell()
        if code == 0:
            stream.write(f"# ok in {time.monotonic() - began:.1f}s\n".encode())
            return output_since(log, start, end)
        tail = _lines(output_since(log, start))
        ended = f"timed out after {timeout}s" if code is None else _status(code)
        stream.write(f"# {ended}\n".encode())
    raise _failure(command, ended if code is None else f"failed ({ended})", log, tail)


def _run_logged(
    command: Command,
    stream: IO[bytes],
    cwd: Path | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
    grace: float,
) -> int | None:
    """The exit status of `command` writing to `stream`, or None if it timed out."""
    with _started(
        command, cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT, grace=grace
    ) as process:
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_tree(process, grace)
            return None


def capture(
    command: Command,
    *,
    cwd: Path | None = None,
    ok_codes: Sequence[int] = (0,),
) -> str:
    """Run a quick query command and return its stdout.

    For read-only look-ups (dpkg-query, git log) whose output is data, not a log. An
    exit status outside `ok_codes` raises CommandFailed naming the command's last
    stderr line.
    """
    return _captured(command, cwd, ok_codes).decode("utf-8", "replace")


def capture_bytes(command: Command) -> bytes:
    """Run a command whose stdout is binary data (an archive) and return it whole."""
    return _captured(command, None, (0,))


def _captured(command: Command, cwd: Path | None, ok_codes: Sequence[int]) -> bytes:
    with _started(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        out, err = process.communicate()
    if process.returncode not in ok_codes:
        detail = _lines(err.decode("utf-8", "replace"))
        raise _failure(command, f"failed ({_status(process.returncode)})", None, detail)
    return out


def passthrough(command: Command, *, grace: float = STOP_GRACE) -> int:
    """Run a command on our own terminal (a nested venvpkg with its own display).

    Returns its exit status. Interrupted, it gets SIGTERM and `grace` seconds to stop
    its own commands and drop what it half-wrote, and we wait for that.
    """
    with _started(command, stdin=None, grace=grace) as process:
        return process.wait()


@contextlib.contextmanager
def _started(
    command: Command,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: Stream = subprocess.DEVNULL,
    stdout: Stream = None,
    stderr: Stream = None,
    grace: float = STOP_GRACE,
) -> Iterator[Process]:
    """Start `command` and register it for stop_all(); stop its tree if the body raises.

    Streams left None are ours: a nested command shares our terminal.
    """
    program, *args = _words(command)
    with _LIVE_LOCK:
        if _STOPPING.is_set():
            raise KeyboardInterrupt
        process = subprocess.Popen(
            [tool_path(program), *args], cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr
        )
        _LIVE[process.pid] = process
    try:
        yield process
    except BaseException:
        stop_tree(process, grace)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.pop(process.pid, None)


def stop_tree(process: Process, grace: float = STOP_GRACE) -> None:
    """Stop a command and every process it started: SIGTERM, then SIGKILL after `grace`.

    Killing the command alone orphans its children: pip's build backend and gcc, or
    sbuild's chroot session, would run on and hold files we are about to remove. The
    SIGTERM first lets sbuild and dpkg clean up after themselves.
    """
    _stop([process], grace)


def stop_all(grace: float = STOP_GRACE) -> None:
    """Stop every command still running, whichever thread started it, in one grace."""
    with _LIVE_LOCK:
        _STOPPING.set()
        running = list(_LIVE.values())
    _stop(running, grace)


def _stop(processes: Sequence[Process], grace: float) -> None:
    tree = [child for process in processes for child in _descendants(process)]
    for process in processes:
        _signal_command(process, signal.SIGTERM)
    for child in tree:
        _signal(child, signal.SIGTERM)
    alive = _await_exit(processes, tree, time.monotonic() + grace)
    for child in alive:
        _signal(child, signal.SIGKILL)
    for process in processes:
        _signal_command(process, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: return only once they are gone.
    _await_exit(processes, alive, time.monotonic() + grace)
    for process in processes:
        # Reaps it, unless a thread is waiting on it: then that thread does.
        process.poll()


def _exited(process: Process) -> bool:
    """Whether the command has ended, without reaping it.

    stop_all() runs in a signal handler, possibly while the same thread sits in
    Popen.wait() holding Popen's non-reentrant wait lock: waiting through Popen here
    could deadlock, so we only peek (WNOWAIT) and leave the reaping to Popen.
    """
    if process.returncode is not None:
        return True
    try:
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, process.pid, flags) is not None
    except ChildProcessError:
        return True  # already reaped by the thread waiting on it


def _await_exit(
    processes: Sequence[Process], tree: Sequence[psutil.Process], deadline: float
) -> list[psutil.Process]:
    """Wait until the commands and `tree` have ended or `deadline` passed; return the
    processes of `tree` still running."""
    while True:
        alive = [child for child in tree if not _gone(child)]
        ended = all(_exited(process) for process in processes)
        if (ended and not alive) or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def _gone(child: psutil.Process) -> bool:
    # A zombie has ended: whoever adopted it may take its time to reap it.
    try:
        return not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _descendants(process: Process) -> list[psutil.Process]:
    # An ended command's pid may be reaped and reused: its children are out of reach.
    if _exited(process):
        return []
    try:
        children: list[psutil.Process] = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return children


def _signal_command(process: Process, number: int) -> None:
    if not _exited(process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, number)


def _signal(child: psutil.Process, number: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        child.send_signal(number)


def _words(command: Command) -> list[str]:
    return [os.fspath(part) for part in command]


def _lines(output: str) -> list[str]:
    """The last non-blank lines of `output`, as many as an error carries."""
    return [line for line in output.splitlines() if line.strip()][-TAIL_LINES:]


def _status(code: int) -> str:
    """How a command that ran to its end ended: "exit 3", "killed by SIGKILL"."""
    if code >= 0:
        return f"exit {code}"
    with contextlib.suppress(ValueError):
        return f"killed by {signal.Signals(-code).name}"
    return f"killed by signal {-code}"


def _failure(command: Command, what: str, log: Path | None, tail: list[str]) -> CommandFailed:
    """The error for a command that `what` ("failed (exit 3)"): its log has the whole
    story, if it has one."""
    message = f"{os.path.basename(command[0])} {what}"
    if log is None and tail:
        # Nothing kept the output: the command's own last word is the only reason shown.
        message += f": {tail[-1].strip()}"
    return CommandFailed(message, log, tail)
