"""`serve` as a real process against the emulator: the real sync job (with the data-quality
checks it runs before publishing, and the alerts after it) and the real weekly report, e-mailed
to a local SMTP server, run on a short schedule; SIGTERM stops it cleanly (exit 0, the dashboard
child gone).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest import mock

import pytest

import kommo_analytics.emulator.generator as generator
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.service import quality
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.mailbox import smtp_server
from tests.readiness import free_port
from tests.sync import harness

# A tenth of the small account: the sync's time is then mostly its fixed costs (about 7 s).
LEADS = 150
SEED = 41

SCRIPT = textwrap.dedent(
    """
    import sys

    from apscheduler.triggers.interval import IntervalTrigger

    from kommo_analytics.automation import serve
    from kommo_analytics.cli import dashboard_cmd
    from kommo_analytics.settings import load_settings

    port = int(sys.argv[1])

    def plan(settings, zone):
        # The real jobs on a short schedule: the sync (and the alerts after it) at start, the
        # weekly report every two seconds.
        sync = next(p for p in serve.default_plan(settings, zone) if p.name == "sync")
        return [sync, serve.Planned("weekly_report", IntervalTrigger(seconds=2))]

    built = serve.build_service(
        load_settings(),
        child=serve.Child(dashboard_cmd.streamlit_command("127.0.0.1", port), None),
        plan=plan,
        console=False,
    )
    sys.exit(built.run_until_stopped())
    """
)


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
    log = tmp_path / "data" / "logs" / "serve.log"
    with serve_in_thread(acc.app) as base, smtp_server() as mailbox:
        env = harness.sync_env(base, acc.state.tokens.demo_token, tmp_path, url)
        env.update(SYNC_INTERVAL_MINUTES="60", HEALTH_INTERVAL_MINUTES="60")
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(mailbox.port), SMTP_SECURITY="none")
        env.update(SMTP_FROM="analytics@example.com", REPORT_EMAILS="boss@example.com")
        env["KOMMO_DASHBOARD_DATABASE_URL"] = url
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(free_port())],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # The sync runs at start and the alerts after it; the report comes when it is its
            # turn (one job at a time) and is e-mailed.
            wait_for(
                lambda: bool(mailbox.messages) and log.is_file()
                and "job alerts:" in log.read_text(),
                timeout=60,
                proc=proc,
            )  # fmt: skip
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert code == 0, text
    # The running job (perhaps a report being printed) finishes first.
    assert took < 15, f"stopping took {took:.1f} s"
    # The sync ran for real: its run is in sync_runs, ok, and the log says so.
    target = parse_database_url(url)
    runs = reader.query(target, "SELECT status, mode FROM kommo_raw.sync_runs ORDER BY started_at")
    assert runs[0] == ("ok", "full"), runs
    assert re.search(r"job sync: ok in [\d.]+ s — full sync ok", text)
    # It ran the data-quality checks before publishing: one stored run.
    assert quality.latest_quality(target) is not None
    # The alerts followed it, and the weekly report was made and sent, with its PDF.
    assert text.index("job sync: ok") < text.index("job alerts:")
    assert "job weekly_report: ok" in text
    [pdf] = (tmp_path / "data" / "reports").glob("kommo-weekly-*.pdf")
    attached = [part.get_filename() for part in mailbox.messages[0].iter_attachments()]
    assert attached == [pdf.name] and mailbox.recipients[0] == ["boss@example.com"]
    # The dashboard child was started and is gone.
    pid = int(re.search(r"dashboard started \(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
    assert f"dashboard stopped (pid {pid})" in text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "SIGTERM received" in text and text.rstrip().endswith("kommo-analytics serve stopped")
