"""Progress: a Rich line per stream in a terminal, throttled plain lines otherwise."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from kommo_analytics.sync.progress import LogReporter, RichReporter
from kommo_analytics.sync.streams import STREAM_NAMES
from tests.sync.harness import account, duckdb_url, sync


def test_plain_lines_are_throttled_and_end_with_the_totals() -> None:
    lines: list[str] = []
    now = [0.0]
    reporter = LogReporter(lines.append, every=10, clock=lambda: now[0])
    reporter.stream_started("leads")
    for _ in range(5):
        now[0] += 1
        reporter.stream_advanced("leads", 250, 1)  # within 10 s of the start: no line
    now[0] += 6
    reporter.stream_advanced("leads", 250, 1)  # 11 s in: one line with the totals so far
    reporter.stream_finished("leads")
    assert lines[0] == "sync leads: started"
    assert lines[1].startswith("sync leads: so far 1500 rows, 6 requests")
    assert lines[2].startswith("sync leads: done, 1500 rows, 6 requests, 136 rows/s")
    assert len(lines) == 3


def test_the_terminal_view_shows_rows_requests_and_rate_per_stream() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with RichReporter(console) as reporter:
        reporter.stream_started("events")
        reporter.stream_advanced("events", 1000, 10)
        reporter.stream_advanced("events", 500, 5)
        reporter.stream_finished("events")
    text = out.getvalue()
    assert "events" in text and "1,500 rows" in text and "15 requests" in text


def _screen(reporter: RichReporter, width: int = 120) -> list[str]:
    """What the terminal shows right now, one line per stream."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(reporter.progress.get_renderable())
    return out.getvalue().splitlines()


def _line(lines: list[str], name: str) -> str:
    (found,) = [line for line in lines if f" {name} " in f" {line} "]
    return found


def test_a_stream_of_known_size_shows_a_bar_percentage_and_eta() -> None:
    now = [0.0]
    reporter = RichReporter(Console(file=io.StringIO()), clock=lambda: now[0])
    reporter.stream_started("tasks")
    reporter.stream_planned("tasks", 4, "windows")
    now[0] = 30.0
    reporter.stream_advanced("tasks", 500, 2)
    reporter.stream_part_done("tasks")
    line = _line(_screen(reporter), "tasks")
    assert "━" in line and "25%" in line
    assert "1/4 windows" in line and "500 rows" in line
    assert "ETA 0:01:30" in line  # a window took 30 s, three are left
    reporter.stream_planned("tasks", 6, "windows")  # a re-check adds two windows to read again
    assert "1/6 windows" in _line(_screen(reporter), "tasks")
    for _ in range(5):
        reporter.stream_part_done("tasks")
    reporter.stream_finished("tasks")
    line = _line(_screen(reporter), "tasks")
    assert "100%" in line and "✓" in line and "ETA" not in line


def test_a_stream_of_unknown_size_says_what_was_read_without_a_bar() -> None:
    now = [0.0]
    reporter = RichReporter(Console(file=io.StringIO()), clock=lambda: now[0])
    reporter.stream_started("leads")
    now[0] = 10.0
    reporter.stream_advanced("leads", 2500, 10)
    line = _line(_screen(reporter), "leads")
    assert "2,500 rows, 10 requests, 250 rows/s" in line
    # No total: no bar (not even a pulsing one), no percentage, no ETA.
    assert "━" not in line and "%" not in line and "ETA" not in line
    reporter.stream_finished("leads")
    now[0] = 100.0
    assert "250 rows/s" in _line(_screen(reporter), "leads")  # the rate of the run, kept
    line = _line(_screen(reporter), "leads")
    assert "✓" in line and "━" not in line and "%" not in line


def test_every_line_fits_80_columns() -> None:
    reporter = RichReporter(Console(file=io.StringIO()), clock=lambda: 5.0)
    for name in ("dictionaries", "deleted_leads", "contact_calls", "events"):
        reporter.stream_started(name)
        reporter.stream_advanced(name, 1_234_567, 12_345)
    reporter.stream_planned("events", 120, "windows")
    reporter.stream_part_done("events")
    lines = _screen(reporter, width=80)
    assert all(len(line) <= 80 for line in lines) and "…" not in "".join(lines)
    assert "contact_calls" in _line(lines, "contact_calls")


def test_plain_lines_give_parts_percentage_and_time_left_when_the_size_is_known() -> None:
    lines: list[str] = []
    now = [0.0]
    reporter = LogReporter(lines.append, every=10, clock=lambda: now[0])
    reporter.stream_started("events")
    reporter.stream_planned("events", 10, "windows")
    now[0] = 5.0
    reporter.stream_part_done("events")  # within 10 s of the start: no line
    reporter.stream_advanced("events", 1000, 8)
    now[0] = 20.0
    reporter.stream_part_done("events")
    reporter.stream_finished("events")
    assert lines[1] == (
        "sync events: so far 1000 rows, 8 requests, 50 rows/s, 20.0 s; "
        "2/10 windows (20 %), about 80 s left"
    )
    assert lines[2].startswith("sync events: done, 1000 rows, 8 requests")
    assert lines[2].endswith("; 10/10 windows")  # finished: every window read


class Recorder:
    """Everything a sync tells its reporter, in order."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.planned: dict[str, tuple[int, str]] = {}
        self.parts: dict[str, int] = {}
        self.finished: list[str] = []
        self.messages: list[str] = []

    def stream_started(self, name: str) -> None:
        self.started.append(name)

    def stream_planned(self, name: str, total: int, unit: str) -> None:
        assert total >= self.planned.get(name, (0, ""))[0]  # a total only grows
        self.planned[name] = (total, unit)

    def stream_part_done(self, name: str) -> None:
        self.parts[name] = self.parts.get(name, 0) + 1
        assert self.parts[name] <= self.planned[name][0]

    def stream_advanced(self, name: str, rows: int, requests: int) -> None:
        pass

    def stream_finished(self, name: str) -> None:
        self.finished.append(name)

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_a_sync_announces_the_size_of_what_it_can_count(tmp_path: Path) -> None:
    recorder = Recorder()
    result = sync(account(seed=3), tmp_path, duckdb_url(tmp_path), reporter=recorder)
    assert result.status == "ok"
    # One set of names: what the progress shows is what `--entities` takes.
    # The model's rebuild is shown like a stream but is no stream `--entities` could name.
    assert recorder.started[-1] == recorder.finished[-1] == "model"
    assert sorted(recorder.started[:-1]) == sorted(STREAM_NAMES) == sorted(recorder.finished[:-1])
    assert set(result.rows) <= set(STREAM_NAMES)
    # Windows, the dictionaries' lists and the model's steps are counted; keyset crawls are not.
    assert set(recorder.planned) == {"dictionaries", "tasks", "events", "model"}
    assert recorder.planned["dictionaries"] == (5, "lists")
    assert recorder.planned["tasks"][1] == recorder.planned["events"][1] == "windows"
    assert recorder.planned["model"][1] == "steps"
    for name, (total, _unit) in recorder.planned.items():
        assert recorder.parts[name] == total, name


def test_a_step_that_reads_nothing_from_kommo_shows_no_zero_counts() -> None:
    # The model's rebuild is a stream of steps: "0 rows, 0 requests, 0 rows/s" would be noise.
    lines: list[str] = []
    now = [0.0]
    reporter = LogReporter(lines.append, every=10, clock=lambda: now[0])
    reporter.stream_started("model")
    reporter.stream_planned("model", 4, "steps")
    for _ in range(4):
        now[0] += 0.5
        reporter.stream_part_done("model")
    reporter.stream_finished("model")
    assert lines[-1] == "sync model: done, 2.0 s; 4/4 steps"
