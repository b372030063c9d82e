"""How long a sync takes when nothing changed in Kommo, and after a small change.

The emulator runs in-process with no rate limit (as ``sync_throughput.py`` load-bound does), so
the figures are the sync's own cost: the crawl of the overlap, the loads, and — unless the sync
finds that nothing changed — the model rebuild, the after-build steps and the DuckDB publish.

    .venv/bin/python benchmarks/unchanged_sync.py --scale medium --work /tmp/bench
    # again with the same --work: the full sync is skipped, the warehouse reused

Run it against another checkout (PYTHONPATH=that/src) with a copy of the same --work folder to
compare versions on the same warehouse.

**At a million leads** (``--warehouse``): instead of a first full sync, the folder starts from a
copy of ``benchmarks/million.py``'s ``large`` warehouse — the synced ``medium`` account twenty
times over, its copy 0 with the medium account's own ids and watermarks. An incremental sync
from the same ``medium`` account (same seed and ``NOW``) into it finds nothing changed: the
overlap's comparison, the model-current check, no rebuild, no publish, on a 1M-lead file. The
model is rebuilt once when the folder is prepared (the cached file's model is the medium one),
in a child process, and published.

    .venv/bin/python benchmarks/million.py --scale large --build-only
    .venv/bin/python benchmarks/unchanged_sync.py --scale medium --work /tmp/bench-large \\
        --warehouse ~/.cache/kommo-analytics-bench/large.duckdb --runs 3

Each run prints its seconds and the process's peak RSS during the run (sampled every 10 ms; the
emulator's in-memory account is part of the process, so the RSS before the runs is printed too).
``--profile FILE`` runs one more unchanged sync under cProfile and prints its top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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

NOW = 1_795_618_800  # fixed, so runs are comparable (million.py uses the same)

R = TypeVar("R")


class Clock:
    """Account time: starts at ``start`` and moves when told (``advance``)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss(call: Callable[[], R]) -> tuple[R, float]:
    """``call()``'s result and the process's highest RSS (MB) while it ran."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = call()
    finally:
        stop.set()
        sampler.join()
    return result, max(peak[0], _rss_mb())


class Timings:
    """Seconds and calls of a few steps of a sync, by wrapping them (``watch``): where an
    unchanged run's time goes. The steps run in the engine's worker threads, which cProfile
    (main thread only) does not see. Nested steps count in both (a load's queries)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def watch(self, owner: object, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def count(started: float) -> None:
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
            self.calls[label] = self.calls.get(label, 0) + 1

        def timed(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                count(started)

        async def timed_async(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                count(started)

        setattr(owner, name, timed_async if inspect.iscoroutinefunction(inner) else timed)

    def line(self) -> str:
        parts = [f"{k} {v:.2f} s/{self.calls[k]}" for k, v in self.seconds.items()]
        self.seconds.clear()
        self.calls.clear()
        return "; ".join(parts)


def _watch(timings: Timings) -> None:
    from kommo_analytics.kommo.client import KommoClient
    from kommo_analytics.model import incremental
    from kommo_analytics.sync.engine import SyncEngine
    from kommo_analytics.warehouse.loader import Warehouse

    timings.watch(httpx.ASGITransport, "handle_async_request", "requests (served)")
    timings.watch(KommoClient, "_send", "requests (paced, sent, answered)")
    timings.watch(Warehouse, "check", "check")
    timings.watch(Warehouse, "watermarks", "watermarks")
    timings.watch(SyncEngine, "_null_baseline", "null baseline")
    timings.watch(Warehouse, "_differs", "compare")
    timings.watch(Warehouse, "load", "loads")
    timings.watch(Warehouse, "_run", "statements")
    timings.watch(incremental, "model_current", "model current?")
    timings.watch(incremental, "served_current", "served current?")
    timings.watch(Warehouse, "publish", "publish")


def _settings(work: Path, token: str, rate: float = 50) -> Settings:
    return Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr(token),
        kommo_rate_limit_per_second=rate,
        data_dir=work / "data",
        database_url=f"duckdb:///{work / 'kommo.duckdb'}",
    )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def prepare_from(source: Path, work: Path, stamp: Path) -> None:
    """``work`` started from a copy of the warehouse file ``source`` (never changed): the copy
    becomes the sync's private file, its model is rebuilt (in a child process, so that this
    one's RSS stays the sync's) and published, and the account's clock starts at the latest
    watermark the file holds."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    private = work / "kommo.sync.duckdb"
    started = time.perf_counter()
    shutil.copyfile(source, private)
    print(f"copied {source} ({source.stat().st_size / 2**30:.2f} GB) in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--work", str(work), "--rebuild-child"], check=True)
    print(f"model rebuilt and published in {time.perf_counter() - started:.0f} s")
    con = duckdb.connect(str(private), read_only=True)
    try:
        row = con.execute("SELECT max(watermark) FROM kommo_raw.sync_state").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        raise SystemExit(f"{source} has no watermarks: not a synced warehouse")
    stamp.write_text(str(float(row[0])))


def _rebuild_child(work: Path) -> None:
    from kommo_analytics.model import incremental
    from kommo_analytics.model.channels import ChannelRules
    from kommo_analytics.model.store import rebuild
    from kommo_analytics.sync.lock import writer_lock
    from kommo_analytics.warehouse.backends import backend_for
    from kommo_analytics.warehouse.target import parse_database_url

    settings = _settings(work, "unused")
    target = parse_database_url(settings.resolved_database_url)
    with writer_lock(target, settings.data_dir):
        rules = ChannelRules.load(settings.channel_rules_file)
        if not incremental.model_current(target, rules, settings.account_timezone):
            print(rebuild(settings, target, now=lambda: NOW))
        backend_for(target).publish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--changes", type=int, default=20, help="live changes before the last run")
    parser.add_argument(
        "--warehouse", type=Path, help="start --work from a copy of this synced warehouse file"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=50,
        help="the client's requests per second (50, the most allowed; Kommo's limit is 7)",
    )
    parser.add_argument("--profile", type=Path, help="one more unchanged sync under cProfile")
    parser.add_argument("--rebuild-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rebuild_child:
        _rebuild_child(args.work)
        return

    # The account's clock starts after the last full sync the folder saw (kept in a file).
    stamp = args.work / "clock.txt"
    if args.warehouse is not None and not stamp.exists():
        prepare_from(args.warehouse.expanduser(), args.work, stamp)
    store = build_account(seed=1, scale=args.scale, now=NOW)
    clock = Clock(float(stamp.read_text()) if stamp.exists() else NOW + 60)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9), clock=clock)
    state = get_state(app)
    settings = _settings(args.work, state.tokens.demo_token, args.rate)
    timings = Timings()
    _watch(timings)

    def sync() -> SyncResult:
        return run_sync(
            settings, SyncOptions(), transport=httpx.ASGITransport(app=app), clock=clock
        )

    peaks: list[float] = []

    def one() -> tuple[float, SyncResult]:
        started = time.perf_counter()
        result, peak = peak_rss(sync)
        peaks.append(peak)
        return time.perf_counter() - started, result

    console = Console(width=150)
    if not stamp.exists():
        took, _ = one()
        console.print(f"first (full) sync: {took:.1f} s, peak RSS {peaks.pop():.0f} MB")
        timings.line()
        if args.runs == 0:  # only the warehouse, to copy for another version
            stamp.write_text(str(clock.now))
            return
    size = (args.work / "kommo.sync.duckdb").stat().st_size / 2**30
    console.print(f"warehouse {size:.2f} GB; RSS before the runs {_rss_mb():.0f} MB")
    times: list[float] = []
    loads: list[str] = []
    for _ in range(args.runs):
        clock.now += 900
        took, result = one()
        times.append(took)
        loads.append(_load())
        console.print(
            f"unchanged sync: {took:.1f} s, peak RSS {peaks[-1]:.0f} MB "
            f"(unchanged={getattr(result, 'unchanged', '-')}; load {loads[-1]})"
        )
        console.print(f"  {timings.line()}")
    if args.profile is not None:
        clock.now += 900
        profiler = cProfile.Profile()
        profiler.runcall(sync)
        timings.line()
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(35)
    extra: list[tuple[str, float, float]] = []  # (what, seconds, peak RSS) of single runs
    if args.changes > 0:
        clock.now += 900
        state.live_tick(args.changes)
        clock.now += 60
        took, result = one()
        loads.append(_load())
        extra.append((f"after {args.changes} live changes", took, peaks[-1]))
        console.print(
            f"sync after {args.changes} live changes: {took:.1f} s, peak RSS "
            f"{peaks[-1]:.0f} MB (load {loads[-1]})"
        )
        console.print(f"  {timings.line()}")
        # Five minutes later nothing changed, but the overlap re-reads the changed rows, all
        # stored as they are: what comparing an overlap that holds rows costs.
        clock.now += 300
        took, result = one()
        loads.append(_load())
        what = f"unchanged, its overlap re-reading the {args.changes} changes"
        extra.append((what, took, peaks[-1]))
        console.print(
            f"{what}: {took:.1f} s, peak RSS {peaks[-1]:.0f} MB "
            f"(unchanged={getattr(result, 'unchanged', '-')}; load {loads[-1]})"
        )
        console.print(f"  {timings.line()}")
    stamp.write_text(str(clock.now))

    table = Table(
        title=f"Syncs with little or nothing to do ({args.scale} account, {size:.2f} GB "
        f"warehouse, DuckDB, in-process, {args.rate:g} requests/s); "
        f"load average after each run: {'; '.join(loads)}"
    )
    for column in ("what", "median s", "min s", "max s", "runs", "peak RSS MB"):
        table.add_column(column)
    if times:
        table.add_row(
            "unchanged sync",
            f"{statistics.median(times):.1f}",
            f"{min(times):.1f}",
            f"{max(times):.1f}",
            str(len(times)),
            f"{max(peaks[: len(times)]):.0f}",
        )
    for what, took, peak in extra:
        table.add_row(what, f"{took:.1f}", "", "", "1", f"{peak:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
