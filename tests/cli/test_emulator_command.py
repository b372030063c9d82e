"""`kommo-analytics emulator` as a newcomer runs it: a real process, a real socket, curl-like use."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.readiness import free_port, wait_for_http

TOKEN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kommo_analytics", *args]


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "emulator.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _command("emulator", "--scale", "small", "--port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        # The token is printed before the server starts: once it answers, the token is there.
        wait_for_http(f"{base}/_emulator/health", proc, log_path.read_text)
        match = TOKEN.search(log_path.read_text())
        assert match, f"no token printed:\n{log_path.read_text()}"
        yield base, match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_printed_token_and_curl_line_return_a_hal_page(
    emulator_process: tuple[str, str],
) -> None:
    base, token = emulator_process
    response = httpx.get(
        f"{base}/api/v4/leads?limit=250&page=1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/hal+json")
    body = response.json()
    assert body["_page"] == 1
    assert len(body["_embedded"]["leads"]) == 250
    assert body["_links"]["next"]["href"].startswith(f"{base}/api/v4/leads?")
    unauthorised = httpx.get(f"{base}/api/v4/leads", timeout=10)
    assert unauthorised.status_code == 401


def test_a_busy_port_is_one_line_with_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            _command("emulator", "--port", str(port)), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2  # a setting to change, like every port conflict
    assert f"cannot serve the emulator on 127.0.0.1:{port}: the port is already in use" in (
        result.stderr
    )
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_dump_writes_the_ground_truth_as_parquet(tmp_path: Path) -> None:
    result = subprocess.run(
        _command("emulator", "--scale", "small", "--dump", str(tmp_path / "truth")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    leads = pq.read_table(tmp_path / "truth" / "leads.parquet")
    assert 1500 <= leads.num_rows <= 3000
    assert {"id", "status_id", "pipeline_id", "utm_source", "updated_at"} <= set(leads.column_names)
    assert pq.read_table(tmp_path / "truth" / "events.parquet").num_rows > leads.num_rows


@pytest.mark.slow
def test_demo_without_an_account_syncs_the_demo_account_then_serves_the_dashboard(
    tmp_path: Path,
) -> None:
    """README command 1's job: demo account → sync → dashboard, as a newcomer runs it."""
    import duckdb

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KOMMO_") and k not in ("DATABASE_URL", "DATA_DIR")
    }
    # The demo account allows more than Kommo's 7 requests/second so that the test is quick.
    env.update(COLUMNS="200", TERM="dumb", KOMMO_RATE_LIMIT_PER_SECOND="45")
    dashboard_port = free_port()
    proc = subprocess.Popen(
        _command("demo", "--port", str(free_port()), "--rate-limit", "50",
                 "--dashboard-port", str(dashboard_port)),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output = ""
    try:
        # Each line is the demo's own progress (generation, sync, model): waiting on them is
        # waiting on its state, however slow the machine.
        while "Dashboard:" not in output:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"demo exited before serving the dashboard:\n{output}")
            output += line
        health = f"http://127.0.0.1:{dashboard_port}/_stcore/health"
        wait_for_http(health, proc, lambda: output)
        assert httpx.get(f"http://127.0.0.1:{dashboard_port}/", timeout=5).status_code == 200
        # The warehouse can be read while the dashboard serves it.
        con = duckdb.connect(str(tmp_path / "data" / "kommo.duckdb"), read_only=True)
        try:
            (leads,) = con.execute("SELECT count(*) FROM kommo_raw.leads").fetchone() or (0,)
            (status,) = con.execute("SELECT status FROM kommo_raw.sync_runs").fetchone() or ("",)
        finally:
            con.close()
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
        output += rest or ""
    assert leads == 2000 and status == "ok"
    assert "demo account" in output and "data/kommo.duckdb" in output
    # Not a terminal: progress comes as plain lines, one per stream at least.
    assert "sync leads: done" in output
