"""Showing a sync's progress: a Rich line per stream in a terminal, plain lines otherwise.

Where the size of a stream is known in advance — the windows of a windowed crawl, the
dictionaries' lists, the model's build steps — its line has a bar, a percentage and an estimate
of the time left. A keyset crawl cannot know how many rows lie ahead (Kommo gives no counts), so
its line says what was read so far (rows, requests, rows per second) and shows no bar: a bar
without a total would only pretend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID
from rich.text import Text


@dataclass
class _Counts:
    started: float
    rows: int = 0
    requests: int = 0
    parts_done: int = 0
    parts_total: int | None = None
    unit: str = ""
    ended: float | None = None  # a finished stream's rate stays what it was

    def rate(self, now: float) -> float:
        return self.rows / max((self.ended or now) - self.started, 1e-6)

    def seconds_left(self, now: float) -> float | None:
        """Time per finished part so far, times the parts left; None before the first."""
        if not self.parts_total or not self.parts_done:
            return None
        done = min(self.parts_done, self.parts_total)
        return (now - self.started) * (self.parts_total - done) / done


def _clock_text(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _Status(SpinnerColumn):
    def render(self, task: Task) -> RenderableType:
        # A stream of unknown size never "completes" in Rich's sense; `done` says it ended.
        return Text("✓", style="green") if task.fields.get("done") else super().render(task)


class _Bar(ProgressColumn):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.bar = BarColumn(bar_width=width)

    def render(self, task: Task) -> RenderableType:
        # Rich pulses a bar that has no total; here no total means no bar.
        return Text(" " * self.width) if task.total is None else self.bar.render(task)


class _Percent(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text("" if task.total is None else f"{task.percentage:>3.0f}%")


class _Details(ProgressColumn):
    """Parts done, rows and the time left for a stream of known size; else rows, requests and
    rows per second."""

    def __init__(self, reporter: RichReporter) -> None:
        super().__init__()
        self.reporter = reporter

    def render(self, task: Task) -> Text:
        counts = self.reporter.counts.get(task.description)
        if counts is None:
            return Text("")
        now = self.reporter.clock()
        if counts.parts_total is None:
            return Text(
                f"{counts.rows:,} rows, {counts.requests:,} requests, "
                f"{counts.rate(now):,.0f} rows/s"
            )
        # Sized streams keep to what fits 80 columns beside the bar; the summary after the run
        # has every stream's requests.
        shown = [f"{counts.parts_done:,}/{counts.parts_total:,} {counts.unit}"]
        if counts.rows or counts.requests:
            shown.append(f"{counts.rows:,} rows")
        if not task.fields.get("done"):
            left = counts.seconds_left(now)
            shown.append("ETA -:--:--" if left is None else f"ETA {_clock_text(left)}")
        return Text(", ".join(shown))


class RichReporter:
    """One line per stream; a bar, percentage and ETA only for streams of known size."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self.counts: dict[str, _Counts] = {}
        self.progress = Progress(
            _Status(),
            "[bold]{task.description}",
            _Bar(20 if console.width >= 100 else 10),
            _Percent(),
            _Details(self),
            console=console,
            transient=False,
            get_time=clock,
        )
        self._tasks: dict[str, TaskID] = {}

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
        self.counts[name] = _Counts(started=self.clock())
        self._tasks[name] = self.progress.add_task(name, total=None, done=False)

    def stream_planned(self, name: str, total: int, unit: str) -> None:
        counts = self.counts[name]
        counts.parts_total, counts.unit = total, unit
        self.progress.update(self._tasks[name], total=total, completed=counts.parts_done)

    def stream_part_done(self, name: str) -> None:
        counts = self.counts[name]
        counts.parts_done += 1
        self.progress.update(self._tasks[name], completed=counts.parts_done)

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        counts = self.counts[name]
        counts.rows += rows
        counts.requests += requests
        self.progress.refresh()

    def stream_finished(self, name: str) -> None:
        counts, task = self.counts[name], self._tasks[name]
        counts.ended = self.clock()
        if counts.parts_total is not None:
            counts.parts_done = counts.parts_total
            self.progress.update(task, completed=counts.parts_total)
        self.progress.update(task, done=True)
        self.progress.stop_task(task)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)


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
        self.counts: dict[str, _Counts] = {}
        self._last: dict[str, float] = {}

    def __enter__(self) -> LogReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _line(self, name: str, state: str) -> str:
        counts = self.counts.get(name) or _Counts(started=self.clock())
        now = self.clock()
        took = max((counts.ended or now) - counts.started, 0.0)
        if counts.rows or counts.requests:
            line = (
                f"sync {name}: {state} {counts.rows} rows, {counts.requests} requests, "
                f"{counts.rate(now):.0f} rows/s, {took:.1f} s"
            )
        else:
            # A step that reads nothing from Kommo (the model's rebuild): rows and requests
            # would only be zeros.
            line = f"sync {name}: {state} {took:.1f} s"
        if counts.parts_total is not None:
            line += f"; {counts.parts_done}/{counts.parts_total} {counts.unit}"
            if state != "done,":
                share = 100 * counts.parts_done / max(counts.parts_total, 1)
                line += f" ({share:.0f} %)"
                left = counts.seconds_left(now)
                if left is not None:
                    line += f", about {left:.0f} s left"
        return line

    def stream_started(self, name: str) -> None:
        self.counts[name] = _Counts(started=self.clock())
        self._last[name] = self.clock()
        self.emit(f"sync {name}: started")

    def stream_planned(self, name: str, total: int, unit: str) -> None:
        counts = self.counts[name]
        counts.parts_total, counts.unit = total, unit

    def stream_part_done(self, name: str) -> None:
        self.counts[name].parts_done += 1
        self._maybe_emit(name)

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        counts = self.counts[name]
        counts.rows += rows
        counts.requests += requests
        self._maybe_emit(name)

    def _maybe_emit(self, name: str) -> None:
        if self.clock() - self._last.get(name, 0.0) >= self.every:
            self._last[name] = self.clock()
            self.emit(self._line(name, "so far"))

    def stream_finished(self, name: str) -> None:
        counts = self.counts[name]
        counts.ended = self.clock()
        if counts.parts_total is not None:
            counts.parts_done = counts.parts_total
        self.emit(self._line(name, "done,"))

    def message(self, text: str) -> None:
        self.emit(text)
