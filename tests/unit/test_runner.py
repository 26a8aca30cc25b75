"""runner with real processes: what a timed-out or interrupted command leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from venvpkg import runner
from venvpkg.errors import CommandFailed


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_timed_out_command_takes_its_children_with_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # The grandchild ignores nothing and outlives its parent unless someone stops it,
    # as gcc under pip's build backend would.
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    began = time.monotonic()
    with pytest.raises(CommandFailed, match="timed out after 1"):
        runner.run(["sh", "-c", script], log=tmp_path / "log", timeout=1)
    assert time.monotonic() - began < 15
    grandchild = int(pidfile.read_text())
    assert not _running(grandchild), "the timed-out command's child is still running"


def test_a_child_that_ignores_sigterm_is_killed_once_the_grace_is_over(tmp_path: Path) -> None:
    pidfile = tmp_path / "stubborn.pid"
    # The stubborn child's sleep inherits the ignored SIGTERM: only SIGKILL ends either.
    script = f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; sleep 300' & wait"
    began = time.monotonic()
    # 3 s: the stubborn child must exist before the timeout, even on a loaded machine.
    with pytest.raises(CommandFailed, match="timed out"):
        runner.run(["sh", "-c", script], log=tmp_path / "log", timeout=3, grace=1)
    elapsed = time.monotonic() - began
    assert not _running(int(pidfile.read_text()))
    # SIGTERM first, SIGKILL only once the grace is over, and no longer than that.
    assert 3 + 1 <= elapsed < 3 + 1 + 5


def test_output_and_exit_status_still_reach_the_caller(tmp_path: Path) -> None:
    log = tmp_path / "log"
    assert runner.run(["sh", "-c", "echo hello"], log=log) == "hello\n"
    with pytest.raises(CommandFailed, match=r"exit 3") as failed:
        runner.run(["sh", "-c", "echo why >&2; exit 3"], log=log, timeout=30)
    assert "why" in failed.value.tail
    assert failed.value.hint == f"see {log}"
    assert "# exit 3" in log.read_text()


def test_a_failed_query_says_why_without_pointing_at_a_log() -> None:
    with pytest.raises(CommandFailed) as failed:
        runner.capture(["sh", "-c", "echo noise >&2; echo 'no such package' >&2; exit 1"])
    assert failed.value.line() == "sh failed (exit 1): no such package"
    assert failed.value.log is None
    with pytest.raises(CommandFailed, match=r"^sh failed \(exit 2\): bad archive$"):
        runner.capture_bytes(["sh", "-c", "echo 'bad archive' >&2; exit 2"])


def test_queries_return_text_or_raw_bytes_and_accept_the_given_exit_codes() -> None:
    assert runner.capture(["sh", "-c", "echo absent; exit 1"], ok_codes=(0, 1)) == "absent\n"
    assert runner.capture_bytes(["printf", "\\377\\000"]) == b"\xff\x00"


WORKER_SCRIPT = """
import sys, threading
from pathlib import Path
from venvpkg import cli, runner

cli._stop_on_termination()
log = Path(sys.argv[1]) / "log"
command = ["sh", "-c", f"sleep 300 & echo $! > {sys.argv[1]}/sleep.pid; wait"]
worker = threading.Thread(target=runner.run, args=(command,), kwargs={"log": log}, daemon=True)
worker.start()
try:
    worker.join()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _sigterm_once_started(script: str, here: Path, pidfile: Path) -> tuple[int, bytes]:
    """Run `script` as a venvpkg-like process, SIGTERM it once `pidfile` is written."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(here)], env=env, stdout=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    try:
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    return child.returncode, out


MAIN_THREAD_SCRIPT = """
import sys
from pathlib import Path
from venvpkg import cli, runner

cli._stop_on_termination()
command = ["sh", "-c", f"sleep 300 & echo $! > {sys.argv[1]}/sleep.pid; wait"]
try:
    runner.run(command, log=Path(sys.argv[1]) / "log")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_sigterm_stops_a_command_the_main_thread_is_waiting_for(tmp_path: Path) -> None:
    # The handler runs inside the main thread's own wait for that command.
    pidfile = tmp_path / "sleep.pid"
    assert _sigterm_once_started(MAIN_THREAD_SCRIPT, tmp_path, pidfile) == (130, b"interrupted\n")
    assert not _running(int(pidfile.read_text()))


def test_sigterm_stops_what_worker_threads_started(tmp_path: Path) -> None:
    # A SIGTERM reaches only venvpkg's main thread; the parallel builds run in workers.
    pidfile = tmp_path / "sleep.pid"
    assert _sigterm_once_started(WORKER_SCRIPT, tmp_path, pidfile) == (130, b"interrupted\n")
    assert not _running(int(pidfile.read_text()))


QUEUE_SCRIPT = """
import sys
from pathlib import Path
from venvpkg import cli, runner
from venvpkg.errors import VenvpkgError
from venvpkg.progress import Display
from venvpkg.release.entries import parallel

cli._stop_on_termination()
here = Path(sys.argv[1])

def job(number):
    # Each job's command records that it started; the first is still running at SIGTERM.
    command = f"echo {number} >> {here}/started; echo $$ > {here}/sleep.pid; sleep 300"
    try:
        runner.run(["sh", "-c", command], log=here / "log")
    except VenvpkgError:
        pass  # a stopped build counts as failed; the queue must stop all the same
    return str(number)

try:
    parallel(range(5), 1, job, Display(), "jobs")
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_sigterm_starts_none_of_the_jobs_still_queued(tmp_path: Path) -> None:
    """Interrupted `build -j 1` of 36 services kept starting the next sbuild, one after
    another, each failing as it was stopped."""
    pidfile = tmp_path / "sleep.pid"
    assert _sigterm_once_started(QUEUE_SCRIPT, tmp_path, pidfile) == (130, b"interrupted\n")
    time.sleep(1)  # a command that wrongly started would have recorded itself by now
    assert (tmp_path / "started").read_text().split() == ["0"]


def test_captured_output_is_plain_data_not_terminal_output() -> None:
    # On a terminal, git pages through less and wraps the answer in escape codes.
    out = runner.capture(["sh", "-c", "test -t 1 && echo terminal || echo pipe; printf 'a\\nb\\n'"])
    assert out == "pipe\na\nb\n"


PASSTHROUGH_SCRIPT = """
import sys
from venvpkg import cli, runner

cli._stop_on_termination()
here = sys.argv[1]
# Like a nested venvpkg: on SIGTERM it takes a moment to drop what it half-wrote.
nested = (
    f"trap 'sleep 1; echo done > {here}/cleaned; exit 143' TERM; "
    f"sleep 300 & echo $! > {here}/sleep.pid; echo $$ > {here}/nested.pid; wait"
)
try:
    runner.passthrough(["sh", "-c", nested])
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_sigterm_lets_a_passthrough_command_clean_up_and_waits_for_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "nested.pid"
    assert _sigterm_once_started(PASSTHROUGH_SCRIPT, tmp_path, pidfile) == (130, b"interrupted\n")
    # Finished before we returned: its clean-up ran, and nothing it started is left.
    assert (tmp_path / "cleaned").read_text() == "done\n"
    assert not _running(int(pidfile.read_text()))
    assert not _running(int((tmp_path / "sleep.pid").read_text()))
