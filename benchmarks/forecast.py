"""How long the forecast takes: reading its history from the warehouse and simulating the coming
months, as `kommo-analytics forecast` does.

Syncs the emulated account (in-process, no rate limit) into DuckDB — the sync builds the model —,
then times the forecast through the read service a few times (median, min, max), split into the
read (History and goals, one consistent read) and the model (estimates and simulation), with the
machine's load average beside the figures. Target: under 5 s on `medium`.

    .venv/bin/python benchmarks/forecast.py --scale medium
    .venv/bin/python benchmarks/forecast.py --scale small --runs 5
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kommo_analytics.forecast import forecast as run_forecast
from kommo_analytics.service import account, forecasts
from kommo_analytics.service.scope import Scope

sys.path.insert(0, str(Path(__file__).parent))
from forecast_backtest import NOW, synced


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--draws", type=int, default=forecasts.DEFAULT_DRAWS)
    args = parser.parse_args()
    console = Console()
    now = datetime.fromtimestamp(NOW, UTC)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        settings = synced(1, args.scale, Path(tmp))
        sync_s = time.perf_counter() - started
        target = account.target_for(settings)
        acc = account.load_modelled(target)
        reads, models, totals, loads = [], [], [], []
        for _ in range(args.runs):
            loads.append(os.getloadavg()[0])
            started = time.perf_counter()
            given = forecasts.inputs(target, acc, Scope(), now=now)
            read = time.perf_counter()
            result = run_forecast(given.history, now=given.now, goals=given.goals, draws=args.draws)
            done = time.perf_counter()
            assert result.status == "ok", result.reason
            reads.append(read - started)
            models.append(done - read)
            totals.append(done - started)
        leads, stays = len(given.history.leads), len(given.history.stays)
    table = Table(
        title=f"Forecast — {args.scale} ({leads:,} leads, {stays:,} stage stays, "
        f"{args.draws:,} draws, {args.runs} runs)",
        title_justify="left",
    )
    for column in ("step", "median s", "min s", "max s"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for name, values in (("read", reads), ("model + simulation", models), ("total", totals)):
        table.add_row(
            name,
            f"{statistics.median(values):.2f}",
            f"{min(values):.2f}",
            f"{max(values):.2f}",
        )
    console.print(table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    console.print(
        f"Sync (not timed above) {sync_s:.0f} s; load average (1 min) during the runs "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores; peak RSS {peak:.2f} GB "
        "(the emulated account included).",
        highlight=False,
    )


if __name__ == "__main__":
    main()
