"""An agency's accounts synced by workers: how wall time and throughput grow with workers.

Each of ``--accounts`` small emulated accounts is its own emulator process with Kommo's limit
(7 requests/second) and slow responses (``--latency``), so together they allow
``7 × accounts`` requests/second — the ceiling an agency's install could reach if nothing else
limited it. For each worker count, a fresh install registers the accounts (PostgreSQL
warehouses, one database each), starts that many ``kommo-analytics worker --threads 1``
processes on one Redis queue, puts one sync per account on the queue, and waits until every
account's sync has finished.

Printed per worker count: wall time from the first job queued to the last sync finished,
requests and 429s served by the emulators, aggregate requests/s against the ceiling, the
machine's load average, Redis commands and PostgreSQL transactions during the run (the broker
and the database in the picture).

    .venv/bin/python benchmarks/agency_workers.py                       # 20 accounts; 1, 2, 4
    .venv/bin/python benchmarks/agency_workers.py --accounts 6 --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from rich.console import Console
from rich.table import Table

from kommo_analytics.automation import queue
from kommo_analytics.service import accounts
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
RATE = 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(seed: int, latency: str) -> tuple[subprocess.Popen[str], str, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kommo_analytics", "emulator", "--port", str(port),
         "--scale", "small", "--seed", str(seed), "--rate-limit", str(RATE),
         "--faults", latency],
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


def emulator_totals(bases: list[str]) -> tuple[int, int]:
    requests = refused = 0
    for base in bases:
        stats = httpx.get(f"{base}/_emulator/stats", timeout=10).json()
        requests += int(stats["requests"])  # reset by stats/reset, unlike api_requests
        refused += int(stats["429"])
    return requests, refused


def reset_emulators(bases: list[str]) -> None:
    for base in bases:
        httpx.post(f"{base}/_emulator/stats/reset", timeout=10).raise_for_status()


def pg_transactions() -> int:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as con:
        row = con.execute(
            "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def redis_commands() -> int:
    info: dict[str, Any] = redis.Redis.from_url(REDIS).info("stats")
    return int(info["total_commands_processed"])


def finished(settings: Settings, name: str) -> str | None:
    """The status of the account's last sync once it has ended; None while none has."""
    target = parse_database_url(settings.for_account(name).resolved_database_url)
    table = target.qualified("sync_runs")
    try:
        rows = reader.query(
            target,
            f"SELECT status FROM {table} WHERE finished_at IS NOT NULL ORDER BY finished_at DESC",  # nosec B608
        )
    except Exception:
        return None  # no sync has written its tables yet
    return str(rows[0][0]) if rows else None


def one_run(
    workers: int, emulators: list[tuple[str, str]], work: Path, console: Console
) -> dict[str, Any]:
    run = secrets.token_hex(4)
    install = work / f"w{workers}-{run}"
    database = f"{PG}/ka_bench_{run}"
    broker = f"{REDIS}?queue=bench_{run}"
    settings = Settings(data_dir=install / "data", database_url=database)
    names = [f"acc{i:02d}" for i in range(len(emulators))]
    for name, (base, token) in zip(names, emulators, strict=True):
        accounts.add(settings, name, base_url=base, token=token, test=False)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KOMMO_", "DATABASE_", "BROKER_"))
    }
    env.update(
        DATA_DIR=str(install / "data"), DATABASE_URL=database, BROKER_URL=broker,
        KOMMO_RATE_LIMIT_PER_SECOND=str(RATE),
    )  # fmt: skip
    command = [sys.executable, "-m", "kommo_analytics", "worker", "--threads", "1"]
    procs = [
        subprocess.Popen(
            command, cwd=install, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(3)  # the workers connect to the broker
        reset_emulators([base for base, _ in emulators])
        tx0, cmd0 = pg_transactions(), redis_commands()
        jobs = queue.connect(broker)
        started = time.perf_counter()
        for name in names:
            jobs.send("sync", name)
        load: list[float] = []
        pending = set(names)
        statuses: dict[str, str] = {}
        while pending:
            time.sleep(2)
            load.append(os.getloadavg()[0])
            for name in list(pending):
                status = finished(settings, name)
                if status is not None:
                    statuses[name] = status
                    pending.discard(name)
            console.print(
                f"  {workers} worker(s): {len(names) - len(pending)}/{len(names)} synced, "
                f"{time.perf_counter() - started:.0f} s",
                highlight=False,
            )
        wall = time.perf_counter() - started
        requests, refused = emulator_totals([base for base, _ in emulators])
        return {
            "workers": workers,
            "wall": wall,
            "requests": requests,
            "refused": refused,
            "rate": requests / wall,
            "ceiling": RATE * len(names),
            "load": max(load) if load else 0.0,
            "pg_tx": pg_transactions() - tx0,
            "redis": redis_commands() - cmd0,
            "failed": sorted(n for n, s in statuses.items() if s != "ok"),
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in names:
            accounts.remove(settings, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency", default="latency=200ms,jitter=100ms")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 150))
    counts = [int(n) for n in args.workers.split(",")]
    procs: list[subprocess.Popen[str]] = []
    emulators: list[tuple[str, str]] = []
    try:
        for seed in range(1, args.accounts + 1):
            proc, base, token = start_emulator(seed, args.latency)
            procs.append(proc)
            emulators.append((base, token))
        console.print(f"{args.accounts} emulators up ({args.latency}, {RATE} req/s each)")
        results = []
        with tempfile.TemporaryDirectory(prefix="agency-bench-") as folder:
            for workers in counts:
                results.append(one_run(workers, emulators, Path(folder), console))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    table = Table(title=f"{args.accounts} accounts, one sync each ({os.cpu_count()} cores)")
    for header in ("workers", "wall s", "requests", "429s", "req/s", "of ceiling", "max load",
                   "PG transactions", "Redis commands", "failed"):  # fmt: skip
        table.add_column(header, justify="right")
    for r in results:
        table.add_row(
            str(r["workers"]), f"{r['wall']:.0f}", str(r["requests"]), str(r["refused"]),
            f"{r['rate']:.1f}", f"{r['rate'] / r['ceiling']:.0%} of {r['ceiling']}",
            f"{r['load']:.1f}", str(r["pg_tx"]), str(r["redis"]), ", ".join(r["failed"]) or "—",
        )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
