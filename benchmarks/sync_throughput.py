"""How fast a sync runs: against Kommo's limit with slow responses, and how fast rows load.

Measurements, each a row of the printed table:

- **api-bound**: the emulator as its own process with Kommo's 7 requests/second limit and every
  response taking 300 ms ± 100 ms; the sync in a process of its own, as in production. The
  client must keep enough requests in flight that the limiter, not latency, sets the pace.
  Printed: requests/s over the crawl (the streams' requests, from the first stream's start to the
  last stream's end) and over the whole sync, 429s, 403s and empty 204s, and requests against the minimum
  (per stream, whole pages of the rows it needs, plus the dictionaries' fixed requests).
- **api-bound, 2 accounts + CPU hog**: two such syncs of two accounts at once (two emulators, two
  sync processes, one IP) beside a process that keeps a core busy.
- **load-bound**: the emulator in-process with no limit, so the figure is what the sync itself
  (crawl, rows, dlt loads) can do per backend.

    .venv/bin/python benchmarks/sync_throughput.py --api-runs 3 --backends ''  # small, 3 + busy
    .venv/bin/python benchmarks/sync_throughput.py --api-scale medium --skip-busy --backends ''
    .venv/bin/python benchmarks/sync_throughput.py --skip-api --scale medium --backends duckdb
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.kommo.entities import EVENTS_PAGE_SIZE, MAX_PAGE_SIZE
from kommo_analytics.kommo.ratelimit import shared_limiter
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import CREATION_IDS_PER_REQUEST, SilentReporter, SyncOptions
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.sync.streams import CREATION_EVENT_TYPE, DICTIONARIES, EVENT_TYPES, MODEL
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url

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


class Timings(SilentReporter):
    """A reporter noting when the crawl starts (the first stream) and ends (the last stream)."""

    def __init__(self) -> None:
        self.crawl_started: float | None = None
        self.crawl_ended: float | None = None

    def stream_started(self, name: str) -> None:
        if name not in (DICTIONARIES, MODEL) and self.crawl_started is None:
            self.crawl_started = time.perf_counter()

    def stream_finished(self, name: str) -> None:
        if name not in (DICTIONARIES, MODEL):
            self.crawl_ended = time.perf_counter()


def minimum_requests(url: str, dictionaries: int) -> int:
    """Whole pages of the rows each stream needs (at least one request per stream), plus the
    dictionaries' fixed requests: what a perfect crawl of this warehouse's rows would cost."""
    target = parse_database_url(url)

    def count(table: str, where: str = "TRUE") -> int:
        sql = f"SELECT count(*) FROM {target.qualified(table)} WHERE {where}"  # nosec B608
        return int(reader.query(target, sql)[0][0])

    def pages(rows: int, size: int) -> int:
        return max(1, math.ceil(rows / size))

    read = ", ".join(f"'{kind}'" for kind in EVENT_TYPES)
    creations = count("events", f"type = '{CREATION_EVENT_TYPE}'")
    return (
        dictionaries
        + pages(count("leads", "NOT is_deleted"), MAX_PAGE_SIZE)
        + pages(count("leads", "is_deleted"), MAX_PAGE_SIZE)
        + pages(count("contacts"), MAX_PAGE_SIZE)
        + pages(count("tasks"), MAX_PAGE_SIZE)
        + pages(count("call_notes", "entity_type = 'leads'"), MAX_PAGE_SIZE)
        + pages(count("call_notes", "entity_type = 'contacts'"), MAX_PAGE_SIZE)
        + pages(count("events", f"type IN ({read})"), EVENTS_PAGE_SIZE)
        + (math.ceil(creations / CREATION_IDS_PER_REQUEST) if creations else 0)
    )


def _start_emulator(scale: str, seed: int) -> tuple[subprocess.Popen[str], str, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kommo_analytics", "emulator", "--port", str(port),
         "--scale", scale, "--seed", str(seed), "--rate-limit", "7",
         "--faults", "latency=200ms,jitter=200ms"],
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
    return proc, f"http://127.0.0.1:{port}", match.group(0)


def worker(base: str, token: str, work: Path) -> None:
    """One sync in this process (``--worker``); prints its figures as JSON."""
    url = f"duckdb:///{work / 'kommo.duckdb'}"
    settings = _settings(base, token, work, url, rate=7)
    timings = Timings()
    started = time.perf_counter()
    result = run_sync(settings, SyncOptions(), timings)
    took = time.perf_counter() - started
    requests = sum(result.requests.values())
    dictionaries = result.requests.get(DICTIONARIES, 0)
    assert timings.crawl_started is not None and timings.crawl_ended is not None
    crawl = timings.crawl_ended - timings.crawl_started
    figures = {
        "rows": sum(result.rows.values()),
        "requests": requests,
        "seconds": took,
        "rate_sync": requests / took,
        "rate_crawl": (requests - dictionaries) / crawl,
        "minimum": minimum_requests(url, dictionaries),
        "by_stream": result.requests,
        "limiter": _limiter_use(base),
    }
    print(json.dumps(figures))


def _limiter_use(base: str) -> str:
    limiter = shared_limiter(7, base)
    share = limiter.waits / limiter.grants if limiter.grants else 0.0
    return f"{share:.0%} of sends waited on the limiter"


def api_bound(
    scale: str, work: Path, *, accounts: int = 1, hog: bool = False
) -> list[tuple[list[str], dict[str, Any]]]:
    """Whole syncs against 7 req/s and 300 ms ± 100 ms per response: per account, a row and the
    figures a summary is made of.

    The emulator runs as its own process, as Kommo would: in the sync's process its event loop
    would share the GIL with the sync's loads, stall, and then read queued requests in a burst.
    """
    emulators = [_start_emulator(scale, seed) for seed in range(1, accounts + 1)]
    hogger = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hog else None
    rows: list[tuple[list[str], dict[str, Any]]] = []
    try:
        syncs = []
        for n, (_, base, token) in enumerate(emulators):
            place = work / f"api-{n}-{time.time_ns()}"
            place.mkdir(parents=True)
            syncs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", base, token, str(place)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for n, ((_, base, _), sync) in enumerate(zip(emulators, syncs, strict=True)):
            out, _ = sync.communicate(timeout=3600)
            if sync.returncode:
                raise RuntimeError(f"sync {n} failed (exit {sync.returncode})")
            figures = json.loads(out.strip().splitlines()[-1])
            stats = httpx.get(f"{base}/_emulator/stats").json()
            label = f"api-bound ({scale}{', 2 accounts + CPU hog' if hog else ''})"
            row = [
                f"{label} #{n + 1}" if accounts > 1 else label,
                "duckdb",
                f"{figures['rows']:,}",
                f"{figures['requests']:,} / {figures['minimum']:,} min "
                f"= {figures['requests'] / figures['minimum']:.2f}×",
                f"{figures['seconds']:.1f}",
                f"crawl {figures['rate_crawl']:.2f}; sync {figures['rate_sync']:.2f}",
                f"429s {stats.get('429', 0)}; 403s {stats.get('403', 0)}; "
                f"204s {stats.get('204', 0)}; blocks {stats.get('blocks', 0)}; "
                f"{figures['limiter']}",
            ]
            rows.append((row, {**figures, "429": stats.get("429", 0), "403": stats.get("403", 0)}))
            print(json.dumps({"row": row, "by_stream": figures["by_stream"]}), flush=True)
    finally:
        if hogger is not None:
            hogger.kill()
            hogger.wait(10)
        for proc, _, _ in emulators:
            proc.terminate()
            proc.wait(10)
    return rows


def summary(label: str, runs: list[dict[str, Any]]) -> list[str]:
    """One row of median (min–max) over several api-bound runs."""

    def spread(key: str, digits: int) -> str:
        values = sorted(float(run[key]) for run in runs)
        middle = statistics.median(values)
        return f"{middle:.{digits}f} ({values[0]:.{digits}f}–{values[-1]:.{digits}f})"

    return [
        f"{label}, {len(runs)} runs: median (min–max)",
        "duckdb",
        "",
        "",
        spread("seconds", 1),
        f"crawl {spread('rate_crawl', 2)}; sync {spread('rate_sync', 2)}",
        f"429s {', '.join(str(int(run['429'])) for run in runs)}; "
        f"403s {', '.join(str(int(run['403'])) for run in runs)}",
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
    minimum = minimum_requests(url, result.requests.get(DICTIONARIES, 0))
    print(json.dumps({"load-bound": backend, "by_stream": result.requests}), flush=True)
    return [
        f"load-bound ({scale}, in-process)",
        backend,
        f"{rows:,}",
        f"{requests:,} / {minimum:,} min = {requests / minimum:.2f}×",
        f"{took:.1f}",
        f"{requests / took:.2f}",
        f"{rows / took:,.0f} rows/s",
    ]


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--backends", default="duckdb,mariadb,postgres")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--api-runs", type=int, default=1, help="api-bound runs of one account")
    parser.add_argument("--api-scale", default="small", help="the account of the api-bound runs")
    parser.add_argument("--skip-busy", action="store_true", help="no 2-accounts + CPU hog run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kommo-bench-"))
    table = Table(title="Sync throughput")
    columns = ("run", "warehouse", "rows", "requests", "seconds", "requests/s", "notes")
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "warehouse") else "right")
    try:
        if not args.skip_api:
            runs = []
            for _ in range(args.api_runs):
                for row, figures in api_bound(args.api_scale, work):
                    table.add_row(*row)
                    runs.append(figures)
            if len(runs) > 1:
                table.add_row(*summary(f"api-bound ({args.api_scale})", runs))
            if not args.skip_busy:
                for row, _ in api_bound(args.api_scale, work, accounts=2, hog=True):
                    table.add_row(*row)
        for backend in filter(None, (b.strip() for b in args.backends.split(","))):
            table.add_row(*load_bound(args.scale, backend, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Console(width=200).print(table)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Console().print(f"peak RSS of this process: {rss:,.0f} MB")
    Console().print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")


if __name__ == "__main__":
    main()
