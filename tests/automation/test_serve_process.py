"""`serve` as a real process against the emulator: a sync job and a report job run on a short
schedule, and SIGTERM stops it cleanly (exit 0, the dashboard child gone).

The report job is injected (a job writing a marker file): the weekly report is built on another
branch; after the merge it can be the real `send_weekly` with a local SMTP server. The data-
quality checks and the alerts that follow a sync are injected the same way, recording that they
ran after it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import pytest

import kommo_analytics.emulator.generator as generator
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync import harness

# A tenth of the small account: the sync's time is then mostly its fixed costs (about 7 s).
LEADS = 150
SEED = 41

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from apscheduler.triggers.interval import IntervalTrigger

    from kommo_analytics.automation import jobs, serve
    from kommo_analytics.cli import dashboard_cmd

    marker, port = Path(sys.argv[1]), int(sys.argv[2])

    def recorder(what):
        def job(ctx):
            with marker.open("a") as out:
                out.write(what + "\\n")
            return jobs.JobOutcome(what + " recorded")
        return job

    def plan(settings, zone):
        sync = next(p for p in serve.default_plan(settings, zone) if p.name == "sync")
        return [sync, serve.Planned("weekly_report", IntervalTrigger(seconds=1))]

    from kommo_analytics.settings import load_settings
    settings = load_settings()
    built = serve.build_service(
        settings,
        child=serve.Child(dashboard_cmd.streamlit_command("127.0.0.1", port), None),
        jobs={
            **jobs.DEFAULT_JOBS,
            "checks": recorder("checks"),
            "alerts": recorder("alerts"),
            "weekly_report": recorder("report"),
        },
        plan=plan,
        console=False,
    )
    sys.exit(built.run_until_stopped())
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: object, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"serve ended early with {proc.returncode}")
        time.sleep(0.2)
    pytest.fail("serve did not get there in time")


def test_serve_runs_a_sync_and_a_report_then_stops_on_sigterm(tmp_path: Path) -> None:
    with mock.patch.dict(generator.SCALE_LEADS, {"small": LEADS}):
        acc = harness.account(seed=SEED, fresh=True)
    url = harness.duckdb_url(tmp_path)
    marker = tmp_path / "ran.txt"
    log = tmp_path / "data" / "logs" / "serve.log"
    with serve_in_thread(acc.app) as base:
        env = harness.sync_env(base, acc.state.tokens.demo_token, tmp_path, url)
        env.update(SYNC_INTERVAL_MINUTES="60", HEALTH_INTERVAL_MINUTES="60")
        env["KOMMO_DASHBOARD_DATABASE_URL"] = url
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(marker), str(free_port())],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # The sync runs at start, its follow-ups after it; the report comes every second.
            wait_for(
                lambda: marker.is_file() and "alerts" in marker.read_text()
                and "report" in marker.read_text(),
                timeout=40,
                proc=proc,
            )  # fmt: skip
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert code == 0, text
    assert took < 12, f"stopping took {took:.1f} s"
    # The sync ran for real: its run is in sync_runs, ok, and the log says so.
    runs = reader.query(
        parse_database_url(url), "SELECT status, mode FROM kommo_raw.sync_runs ORDER BY started_at"
    )
    assert runs[0] == ("ok", "full"), runs
    assert re.search(r"job sync: ok in [\d.]+ s — full sync ok", text)
    # Its follow-ups ran after it, in order: checks (it succeeded), then alerts.
    ran = marker.read_text().split()
    assert ran[:2] == ["checks", "alerts"], ran
    assert "job weekly_report: ok" in text
    # The dashboard child was started and is gone.
    pid = int(re.search(r"dashboard started \(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
    assert f"dashboard stopped (pid {pid})" in text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "SIGTERM received" in text and text.rstrip().endswith("kommo-analytics serve stopped")
