"""How long the model rebuild's raw read takes on MariaDB and PostgreSQL, row by row and column
by column.

Syncs the emulated account (in-process, no rate limit) into a scratch database on each server —
the way `model_metrics.py` does —, then reads the raw tables the model reads (`model.store.
read_raw`) a few times with each path: "rows" builds every frame from the driver's tuples
(`Backend.fetch_frame` as it was), "columns" is the backend's own `fetch_frame`. Every frame of
the two is compared, dtype and value, before anything is timed; then one whole model rebuild is
timed. The scratch database is dropped at the end (`--keep` keeps it and prints its URL; `--url`
reuses one).

    .venv/bin/python benchmarks/server_reads.py --scale medium --runs 3
    .venv/bin/python benchmarks/server_reads.py --url postgresql+psycopg://postgres@127.0.0.1:5432/kommo_bench_x
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.model import store as model_store
from kommo_analytics.model.build import RawFrames
from kommo_analytics.service import inputs
from kommo_analytics.settings import Settings
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import Backend, backend_for
from kommo_analytics.warehouse.target import Target, parse_database_url

sys.path.insert(0, str(Path(__file__).parent))
from model_metrics import NOW, _database, _drop


def _synced(backend: str, scale: str, work: Path) -> str:
    url = _database(backend, work)
    store = build_account(seed=1, scale=scale, now=NOW)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9))
    settings = Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr(get_state(app).tokens.demo_token),
        kommo_rate_limit_per_second=50,
        data_dir=work / "data",
        database_url=url,
    )
    run_sync(settings, transport=httpx.ASGITransport(app=app))
    return url


@contextmanager
def _by_rows(target: Target) -> Iterator[None]:
    """The backend's fetch_frame replaced by the row-by-row one every backend had before."""
    backend = backend_for(target)
    kind = type(backend)
    own = kind.__dict__.get("fetch_frame")
    kind.fetch_frame = Backend.fetch_frame  # type: ignore[method-assign]
    try:
        yield
    finally:
        if own is None:
            del kind.fetch_frame
        else:
            kind.fetch_frame = own  # type: ignore[method-assign]


def _read(target: Target) -> RawFrames:
    with reader.connect(target) as con:
        return model_store.read_raw(con, target)


def _same(rows: RawFrames, columns: RawFrames) -> None:
    for name in RawFrames.__dataclass_fields__:
        a, b = getattr(rows, name), getattr(columns, name)
        if not isinstance(a, pd.DataFrame):
            assert a == b, name
            continue
        assert list(a.dtypes) == list(b.dtypes), (name, a.dtypes, b.dtypes)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        for column in a.columns:
            if a[column].dtype == object:
                assert [type(v) for v in a[column]] == [type(v) for v in b[column]], (name, column)


def _times(target: Target, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        _read(target)
        out.append(time.perf_counter() - started)
    return out


def _row(label: str, values: list[float]) -> list[str]:
    return [label, f"{statistics.median(values):.2f}", f"{min(values):.2f}", f"{max(values):.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium"])
    parser.add_argument("--backends", default="mariadb,postgres")
    parser.add_argument("--url", help="a synced server database to read instead of syncing")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the synced database")
    parser.add_argument("--sync-only", action="store_true", help="sync, keep, print the URLs")
    args = parser.parse_args()
    console = Console()
    urls = [args.url] if args.url else []
    table = Table(title="Raw read of the model rebuild, seconds", title_justify="left")
    for column in ("warehouse", "step", "median", "min", "max"):
        table.add_column(column, justify="left" if column in ("warehouse", "step") else "right")
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in [] if urls else args.backends.split(","):
            started = time.perf_counter()
            urls.append(_synced(backend, args.scale, Path(tmp) / backend))
            console.print(f"synced {backend} in {time.perf_counter() - started:.0f} s: {urls[-1]}")
        if args.sync_only:
            console.print("kept: " + " ".join(urls))
            return
        try:
            for url in urls:
                target = parse_database_url(url)
                loads.append(os.getloadavg()[0])
                with _by_rows(target):
                    rows = _read(target)
                _same(rows, _read(target))
                leads = len(rows.leads)
                del rows
                with _by_rows(target):
                    before = _times(target, args.runs)
                after = _times(target, args.runs)
                rules = inputs.channel_rules(Settings(database_url=url, data_dir=Path(tmp)))
                with _by_rows(target):
                    started = time.perf_counter()
                    model_store.build_and_store(target, rules)
                    rebuild_before = time.perf_counter() - started
                started = time.perf_counter()
                model_store.build_and_store(target, rules)
                rebuild_after = time.perf_counter() - started
                loads.append(os.getloadavg()[0])
                kind = target.kind.value
                table.add_row(kind, *_row(f"read by rows ({leads:,} leads)", before))
                table.add_row(kind, *_row("read by columns", after))
                table.add_row(kind, *_row("rebuild, reading by rows (1 run)", [rebuild_before]))
                table.add_row(kind, *_row("rebuild, reading by columns (1 run)", [rebuild_after]))
        finally:
            if not args.keep and not args.url:
                for url in urls:
                    _drop(url)
    console.print(table)
    console.print(
        f"frames equal, dtype for dtype and value for value; load average (1 min) "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores",
        highlight=False,
    )
    if args.keep:
        console.print("kept: " + " ".join(urls))


if __name__ == "__main__":
    main()
