"""Progress for long work: a live display on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


class Display:
    """Reports stages and steps; quiet mode prints only warnings and errors."""

    def __init__(self, verbosity: int = 0, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.verbosity = verbosity
        self.live = self.console.is_terminal and verbosity >= 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self._print(message)

    def detail(self, message: str) -> None:
        if self.verbosity > 0:
            self._print(message)

    def warn(self, message: str) -> None:
        self._print(f"warning: {message}")

    def _print(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False)
        else:
            self.console.print(message, markup=False)

    @contextmanager
    def stage(self, title: str, total: int) -> Iterator[Display]:
        """A counted stage: a bar on a terminal, a start and an end line otherwise."""
        began = time.monotonic()
        if self.live and total:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[item]}"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=self.console, transient=True) as progress:
                self._progress = progress
                self._task = progress.add_task(title, total=total, item="")
                try:
                    yield self
                finally:
                    self._progress, self._task = None, None
        else:
            if total and self.verbosity >= 0:
                self._print(f"{title}: {total} to do")
            yield self
        if total:
            self.info(f"{title}: done in {time.monotonic() - began:.1f}s")

    def advance(self, item: str) -> None:
        """One step of the current stage finished."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, item=item)
        else:
            self.detail(f"  {item}")

    def table(self, title: str, columns: list[str], rows: list[list[str]], out: TextIO) -> None:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, justify="right" if column != columns[0] else "left")
        for row in rows:
            table.add_row(*row)
        Console(file=out, highlight=False, width=max(100, self.console.width)).print(table)
