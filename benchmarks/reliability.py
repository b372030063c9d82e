"""The published fault suite: full and incremental syncs under each kind of trouble, on each
warehouse backend; after a clean re-run the warehouse must equal the emulator's ground truth.

Every scenario run uses a fresh small account (its data and its faults seeded by `--seed` and
the run's number) and an empty warehouse; see `tests/sync/fault_suite.py` for the sequence, and
docs/reliability.md for what each scenario simulates. SIGKILL runs are real sync processes
against the emulator over a socket, killed at seeded random moments, in the full mode.

A row passes when no row was lost or doubled in any table, no run got the emulator's IP
block, and every faulted sync either rode its trouble out or stopped with the error the
scenario expects.

    .venv/bin/python benchmarks/reliability.py                    # everything: about half an hour on 2 cores
    .venv/bin/python benchmarks/reliability.py --quick            # DuckDB, 1 run, 5 kills
    .venv/bin/python benchmarks/reliability.py --scenarios 5xx-bursts,sigkill --backends postgres
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scenarios live beside the tests

from tests.sync.fault_suite import (
    SCENARIO_NAMES,
    Tally,
    by_name,
    run_kills,
    run_scenario,
)

BACKENDS = ("duckdb", "postgres", "mariadb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario and backend")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLed syncs per backend")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--scenarios", default=",".join(SCENARIO_NAMES))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="DuckDB only, 1 run, 5 kills")
    args = parser.parse_args()
    if args.quick:
        args.backends, args.runs, args.kills = "duckdb", 1, 5
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIO_NAMES]
    if unknown or any(b not in BACKENDS for b in backends):
        parser.error(f"scenarios are {', '.join(SCENARIO_NAMES)}; backends {', '.join(BACKENDS)}")
    # The retries and pauses are the point; their log lines would bury the table.
    logging.basicConfig(level=logging.ERROR)

    console = Console(width=200)
    started, load_before = time.perf_counter(), os.getloadavg()
    table = Table(title="Fault suite: after a clean re-run, the warehouse against the truth")
    columns = ("scenario", "backend", "runs", "requests", "retries", "429s", "rows lost",
               "duplicates", "blocked", "faults met", "seconds", "verdict")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("scenario", "backend") else "right")
    failures: list[str] = []
    for name in scenarios:
        for backend in backends:
            tally = Tally()
            t0 = time.perf_counter()
            if name == "sigkill":
                run_kills(backend, args.seed, args.kills, tally)
            elif by_name(name).servers_only and backend == "duckdb":
                # DuckDB is a file in this process: there is no server session to kill.
                table.add_row(name, backend, *["n/a"] * (len(columns) - 2))
                continue
            else:
                for run in range(args.runs):
                    run_scenario(by_name(name), backend, args.seed * 100 + run, tally)
            seconds = time.perf_counter() - t0
            if not tally.faults_met:
                tally.problem("the scenario's trouble never happened: the run proves nothing")
            verdict = "pass" if tally.ok else "FAIL"
            failures += [f"{name} on {backend}: {p}" for p in tally.problems]
            table.add_row(
                name, backend, str(tally.runs), f"{tally.requests:,}", f"{tally.retries:,}",
                f"{tally.rate_limited:,}", str(tally.lost), str(tally.duplicated),
                str(tally.blocked), f"{tally.faults_met:,}", f"{seconds:.0f}", verdict,
            )  # fmt: skip
            console.print(f"{name} on {backend}: {verdict} ({seconds:.0f} s)", highlight=False)
    console.print(table)
    took = time.perf_counter() - started
    load_after = os.getloadavg()
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {took / 60:.1f} min, seed {args.seed}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"{load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end",
        highlight=False,
    )
    for line in failures:
        console.print(f"- {line}", highlight=False, markup=False)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
