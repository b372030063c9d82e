"""How fast a sync runs: against Kommo's limit with slow responses, and how fast rows load.

Two measurements, each a row of the printed table:

- **api-bound**: the emulator over a real socket with Kommo's 7 requests/second limit and a
  fault that makes every response take ~300 ms. The client must keep enough requests in flight
  that the limiter, not latency, sets the pace: the achieved rate should sit just under 7/s,
  with no 429 and no block.
- **load-bound**: the emulator in-process with no limit, so the figure is what the sync itself
  (crawl, rows, dlt loads) can do per backend.

    .venv/bin/python benchmarks/sync_throughput.py
    .venv/bin/python benchmarks/sync_throughput.py --scale medium --backends duckdb,postgres
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import SyncOptions
from kommo_analytics.sync.runner import run_sync

NOW = 1_795_618_800  # fixed, so runs are comparable

SERVER_URLS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/{db}",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
}


class Clock:
    def __init__(self, start: float) -> None:
        self.offset = start - time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _fresh_server_db(backend: str) -> str:
    name = f"kommo_bench_{int(time.time())}"
    if backend == "mariadb":
        import pymysql

        con = pymysql.connect(host="127.0.0.1", user="root")
        with con.cursor() as cur:
            for db in (name, f"{name}_staging"):
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            cur.execute(f"CREATE DATABASE `{name}`")
        con.close()
    else:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
    return SERVER_URLS[backend].format(db=name)


def _settings(base: str, token: str, work: Path, url: str, rate: float) -> Settings:
    return Settings(
        kommo_base_url=base,
        kommo_access_token=SecretStr(token),
        kommo_rate_limit_per_second=rate,
        data_dir=work / "data",
        database_url=url,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_bound(scale: str, work: Path) -> list[str]:
    """A whole sync against 7 req/s and ~300 ms per response.

    The emulator runs as its own process, as Kommo would: in the sync's process its event loop
    would share the GIL with the sync's loads, stall, and then read queued requests in a burst.
    """
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kommo_analytics", "emulator", "--port", str(port),
         "--scale", scale, "--rate-limit", "7", "--faults", "latency=300ms,jitter=30ms"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "400", "TERM": "dumb"},
    )  # fmt: skip
    assert proc.stdout is not None
    output = ""
    while "Ctrl+C" not in output:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator did not start:\n{output}")
        output += line
    match = re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", output)
    assert match, output
    base = f"http://127.0.0.1:{port}"
    url = f"duckdb:///{work / 'api' / 'kommo.duckdb'}"
    try:
        settings = _settings(base, match.group(0), work, url, rate=7)
        started = time.perf_counter()
        result = run_sync(settings, SyncOptions())
        took = time.perf_counter() - started
        stats = httpx.get(f"{base}/_emulator/stats").json()
    finally:
        proc.terminate()
        proc.wait(10)
    requests = sum(result.requests.values())
    return [
        f"api-bound ({scale}, 300 ms/response)",
        "duckdb",
        f"{sum(result.rows.values()):,}",
        f"{requests:,}",
        f"{took:.1f}",
        f"{requests / took:.2f}",
        f"429s {stats['429']}; blocks {stats['blocks']}",
    ]


def load_bound(scale: str, backend: str, work: Path) -> list[str]:
    store = build_account(seed=1, scale=scale, now=NOW)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9), clock=Clock(NOW + 60))
    state = get_state(app)
    url = (
        f"duckdb:///{work / backend / 'kommo.duckdb'}"
        if backend == "duckdb"
        else _fresh_server_db(backend)
    )
    settings = _settings("http://kommo.test", state.tokens.demo_token, work, url, rate=50)
    # The settings cap the client at 50 req/s; for this row the API is not the bottleneck.
    started = time.perf_counter()
    result = run_sync(
        settings,
        SyncOptions(),
        transport=httpx.ASGITransport(app=app),
        clock=Clock(NOW + 60),
    )
    took = time.perf_counter() - started
    rows = sum(result.rows.values())
    requests = sum(result.requests.values())
    return [
        f"load-bound ({scale}, in-process)",
        backend,
        f"{rows:,}",
        f"{requests:,}",
        f"{took:.1f}",
        f"{requests / took:.2f}",
        f"{rows / took:,.0f} rows/s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--backends", default="duckdb,mariadb,postgres")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kommo-bench-"))
    table = Table(title="Sync throughput")
    for column in ("run", "warehouse", "rows", "requests", "seconds", "requests/s", "notes"):
        table.add_column(column, justify="left" if column in ("run", "warehouse") else "right")
    try:
        if not args.skip_api:
            table.add_row(*api_bound("small", work))
        for backend in args.backends.split(","):
            table.add_row(*load_bound(args.scale, backend.strip(), work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Console(width=160).print(table)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Console().print(f"peak RSS of this process: {rss:,.0f} MB")


if __name__ == "__main__":
    main()
