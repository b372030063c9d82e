"""How long the analytics model takes to rebuild, and the full metrics report to compute, per
warehouse backend.

Syncs the emulated account (in-process, no rate limit) into each backend — the sync itself
ends with a model build — then times a separate rebuild (`kommo-analytics model`) and the
`metrics` report for the last 30 days and for the whole history, with peak memory.

    .venv/bin/python benchmarks/model_metrics.py --scale medium
    .venv/bin/python benchmarks/model_metrics.py --scale small --backends duckdb
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import psycopg
import pymysql
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.model import store as model_store
from kommo_analytics.service import account, inputs, reports
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.sync.runner import run_sync

NOW = 1_795_618_800  # the generated history ends here (2026-11-25 15:00 UTC)


def _database(backend: str, work: Path) -> str:
    name = f"kommo_bench_{uuid.uuid4().hex[:8]}"
    if backend == "duckdb":
        return f"duckdb:///{work / 'kommo.duckdb'}"
    if backend == "mariadb":
        con = pymysql.connect(host="127.0.0.1", user="root")
        con.cursor().execute(f"CREATE DATABASE `{name}`")
        con.close()
        return f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as pg:
        pg.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    if url.startswith("mysql"):
        con = pymysql.connect(host="127.0.0.1", user="root")
        con.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        con.cursor().execute(f"DROP DATABASE IF EXISTS `{name}_staging`")
        con.close()
    elif url.startswith("postgresql"):
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(work: Callable[[], object], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _measure(backend: str, store: AccountStore, work: Path) -> list[str]:
    url = _database(backend, work)
    try:
        app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9))
        settings = Settings(
            kommo_base_url="http://kommo.test",
            kommo_access_token=SecretStr(get_state(app).tokens.demo_token),
            kommo_rate_limit_per_second=50,
            data_dir=work / "data",
            database_url=url,
        )
        sync_s = _timed(lambda: run_sync(settings, transport=httpx.ASGITransport(app=app)))
        target = account.target_for(settings)
        rules = inputs.channel_rules(settings)
        counts: dict[str, int] = {}
        rebuild_s = _timed(lambda: counts.update(model_store.build_and_store(target, rules)))
        acc = account.load_modelled(target)
        as_of = datetime.fromtimestamp(NOW, UTC)

        def report(start: date | None, end: date | None) -> None:
            scope = Scope(start=start, end=end, as_of=as_of)
            reports.report(target, acc, reports.params(acc, scope, now=as_of))

        recent = _timed(lambda: report(None, None), repeat=3)
        everything = _timed(lambda: report(date(2000, 1, 1), date(2100, 12, 31)), repeat=3)
    finally:
        _drop(url)
    return [
        backend, f"{counts['fact_leads']:,}", f"{counts['fact_stage_stays']:,}",
        f"{counts['fact_activities']:,}", f"{sync_s:.1f}", f"{rebuild_s:.1f}",
        f"{recent:.2f}", f"{everything:.2f}",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--backends", default="duckdb,mariadb,postgres")
    args = parser.parse_args()
    console = Console()
    store = build_account(seed=1, scale=args.scale, now=NOW)
    table = Table(title=f"Model and metrics — {args.scale}", title_justify="left")
    for column in ("warehouse", "leads", "stays", "activities", "sync s", "rebuild s",
                   "metrics 30 days s", "metrics all history s"):  # fmt: skip
        table.add_column(column, justify="left" if column == "warehouse" else "right")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            table.add_row(*_measure(backend, store, Path(tmp)))
    console.print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    console.print(f"Peak RSS of this process: {peak:.2f} GB (the emulated account included).")


if __name__ == "__main__":
    main()
