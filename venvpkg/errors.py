"""One exception family: every error carries a message, a hint and an exit code.

Only the CLI turns these into output and exit codes; library code raises them.
"""

from __future__ import annotations

from pathlib import Path


class VenvpkgError(Exception):
    """A failure the user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        """The single line shown to the user."""
        return f"{self.message}; {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return self.line()


class UsageError(VenvpkgError):
    """Bad input on the command line or in the configuration."""

    exit_code = 2


class DataError(VenvpkgError):
    """A malformed input file (constraints, bindep, configuration)."""

    exit_code = 2


class ToolMissing(VenvpkgError):
    """An external program is not installed."""

    exit_code = 3


class CommandFailed(VenvpkgError):
    """An external program failed; its log, if it had one, keeps the full output.

    Without a log the message itself must say why (the runner puts the command's last
    stderr line in it), and there is no file to point the user at.
    """

    def __init__(self, message: str, log: Path | None, tail: list[str]) -> None:
        super().__init__(message, f"see {log}" if log is not None else "")
        self.log = log
        self.tail = tail


class NetworkError(VenvpkgError):
    """The package index could not be reached."""

    exit_code = 4


class BuildFailed(VenvpkgError):
    """Some pins could not be turned into wheels for the target."""

    exit_code = 5

    def __init__(self, message: str, hint: str, details: list[str]) -> None:
        super().__init__(message, hint)
        self.details = details
