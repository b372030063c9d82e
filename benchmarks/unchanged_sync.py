"""How long a sync takes when nothing changed in Kommo, and after a small change.

The emulator runs in-process with no rate limit (as ``sync_throughput.py`` load-bound does), so
the figures are the sync's own cost: the crawl of the overlap, the loads, and — unless the sync
finds that nothing changed — the model rebuild, the after-build steps and the DuckDB publish.

    .venv/bin/python benchmarks/unchanged_sync.py --scale medium --work /tmp/bench
    # again with the same --work: the full sync is skipped, the warehouse reused

Run it against another checkout (PYTHONPATH=that/src) with a copy of the same --work folder to
compare versions on the same warehouse.
"""

from __future__ import annotations

import argparse
import statistics
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
from kommo_analytics.sync.engine import SyncOptions, SyncResult
from kommo_analytics.sync.runner import run_sync

NOW = 1_795_618_800  # fixed, so runs are comparable


class Clock:
    """Account time: starts at ``start`` and moves when told (``advance``)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--changes", type=int, default=20, help="live changes before the last run")
    args = parser.parse_args()

    store = build_account(seed=1, scale=args.scale, now=NOW)
    # The account's clock starts after the last full sync the folder saw (kept in a file).
    stamp = args.work / "clock.txt"
    clock = Clock(float(stamp.read_text()) if stamp.exists() else NOW + 60)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9), clock=clock)
    state = get_state(app)
    settings = Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr(state.tokens.demo_token),
        kommo_rate_limit_per_second=50,
        data_dir=args.work / "data",
        database_url=f"duckdb:///{args.work / 'kommo.duckdb'}",
    )

    def one() -> tuple[float, SyncResult]:
        started = time.perf_counter()
        result = run_sync(
            settings, SyncOptions(), transport=httpx.ASGITransport(app=app), clock=clock
        )
        return time.perf_counter() - started, result

    console = Console()
    if not stamp.exists():
        took, _ = one()
        console.print(f"first (full) sync: {took:.1f} s")
        if args.runs == 0:  # only the warehouse, to copy for another version
            stamp.write_text(str(clock.now))
            return
    times: list[float] = []
    for _ in range(args.runs):
        clock.now += 900
        took, result = one()
        times.append(took)
        console.print(
            f"unchanged sync: {took:.1f} s (unchanged={getattr(result, 'unchanged', '-')})"
        )
    clock.now += 900
    state.live_tick(args.changes)
    clock.now += 60
    changed, result = one()
    console.print(f"sync after {args.changes} live changes: {changed:.1f} s")
    stamp.write_text(str(clock.now))

    table = Table(title=f"Syncs with little or nothing to do ({args.scale}, DuckDB, in-process)")
    for column in ("what", "median s", "min s", "max s", "runs"):
        table.add_column(column)
    table.add_row(
        "unchanged sync",
        f"{statistics.median(times):.1f}",
        f"{min(times):.1f}",
        f"{max(times):.1f}",
        str(len(times)),
    )
    table.add_row(f"after {args.changes} live changes", f"{changed:.1f}", "", "", "1")
    console.print(table)


if __name__ == "__main__":
    main()
