"""Showing a sync's progress: a Rich bar per stream in a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichReporter:
    """One line per stream: rows and requests so far, and the rows-per-second rate."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.description:<14}"),
            TextColumn("{task.fields[rows]:>9,} rows"),
            TextColumn("{task.fields[requests]:>6,} requests"),
            TextColumn("{task.fields[rate]:>8} rows/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._totals: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def stream_started(self, name: str) -> None:
        self._started[name] = time.monotonic()
        self._totals[name] = (0, 0)
        self._tasks[name] = self.progress.add_task(name, total=None, rows=0, requests=0, rate="")

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        total_rows, total_requests = self._totals.get(name, (0, 0))
        total_rows, total_requests = total_rows + rows, total_requests + requests
        self._totals[name] = (total_rows, total_requests)
        elapsed = max(time.monotonic() - self._started.get(name, time.monotonic()), 1e-6)
        self.progress.update(
            self._tasks[name],
            rows=total_rows,
            requests=total_requests,
            rate=f"{total_rows / elapsed:,.0f}",
        )

    def stream_finished(self, name: str) -> None:
        task = self._tasks[name]
        self.progress.update(task, total=1, completed=1)

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)


class LogReporter:
    """Plain lines for logs and pipes: each stream at most every `every` seconds, and its end."""

    def __init__(
        self,
        emit: Callable[[str], None],
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emit = emit
        self.every = every
        self.clock = clock
        self._totals: dict[str, tuple[int, int]] = {}
        self._last: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> LogReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _line(self, name: str, state: str) -> str:
        rows, requests = self._totals.get(name, (0, 0))
        elapsed = max(self.clock() - self._started.get(name, self.clock()), 1e-6)
        return (
            f"sync {name}: {state} {rows} rows, {requests} requests, "
            f"{rows / elapsed:.0f} rows/s, {elapsed:.1f} s"
        )

    def stream_started(self, name: str) -> None:
        self._started[name] = self._last[name] = self.clock()
        self._totals[name] = (0, 0)
        self.emit(f"sync {name}: started")

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        total_rows, total_requests = self._totals.get(name, (0, 0))
        self._totals[name] = (total_rows + rows, total_requests + requests)
        if self.clock() - self._last.get(name, 0.0) >= self.every:
            self._last[name] = self.clock()
            self.emit(self._line(name, "so far"))

    def stream_finished(self, name: str) -> None:
        self.emit(self._line(name, "done,"))

    def message(self, text: str) -> None:
        self.emit(text)
