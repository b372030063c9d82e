"""Progress: a Rich line per stream in a terminal, throttled plain lines otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from kommo_analytics.sync.progress import LogReporter, RichReporter


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
