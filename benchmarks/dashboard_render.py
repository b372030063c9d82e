"""How long each dashboard page takes to render on a synced account, cold and warm, and how much
memory the dashboard's process holds.

Syncs the emulated account into a DuckDB warehouse in-process (the sync builds the analytics
model) — or copies a warehouse file already built (``--warehouse``, e.g. the cached ones of
``benchmarks/million.py`` in ``~/.cache/kommo-analytics-bench/``; its model is built first when
it has none) —, then renders the pages with Streamlit's AppTest: "cold" is a render with every
cache emptied (as after a new sync), "warm" the median of the renders after it. The dashboard's
clock is pinned to the newest lead of the warehouse, so "last 30 days" holds data. The RSS
column is this process's resident memory after the page's renders (the AppTest runs the
dashboard in this process), and the peak is printed at the end.

    .venv/bin/python benchmarks/dashboard_render.py --scale medium
    .venv/bin/python benchmarks/dashboard_render.py --warehouse ~/.cache/kommo-analytics-bench/large.duckdb --pages Leads "3 Activities" --renders 3

``--in-place`` reads the ``--warehouse`` file itself instead of a copy (a file of your own whose
model is built: the dashboard only reads it); ``--profile DIR`` writes a cProfile of each cold
render (``DIR/<page>-<period>.prof``, read it with ``python -m pstats``); ``--periods`` picks
"30" (last 30 days) and/or "all" (the whole history); ``--warm-up PAGE`` renders a page once
before the timed ones, so that the first timed page does not also pay the process's one-time
imports. ``--store-forecast`` first keeps the
company's forecast as of the pinned clock in the dashboard's data folder, as a sync run at that
moment would (``service/snapshots.py``), in a child process; without it the pages that show the
forecast simulate it live on their cold render.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import streamlit as st
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from streamlit import logger as streamlit_logger
from streamlit.testing.v1 import AppTest

from kommo_analytics import dashboard
from kommo_analytics.dashboard import ENV_DATABASE_URL, filters
from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.query import model_info
from kommo_analytics.service import snapshots
from kommo_analytics.settings import Settings
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url

APP = Path(dashboard.__file__).parent / "app.py"
PAGES = {
    "Overview": "app_pages/overview.py",
    "1 Leads and origin": "app_pages/intake.py",
    "2 Funnel": "app_pages/funnel.py",
    "3 Activities": "app_pages/activities.py",
    "4 Sales": "app_pages/sales.py",
    "5 Performance": "app_pages/performance.py",
    "6 Forecast": "app_pages/forecast.py",
    "Leads": "app_pages/leads.py",
    "Definitions": "app_pages/definitions.py",
    "Data health": "app_pages/data_health.py",
}
PERIOD_KEYS = {"30": "last 30 days", "all": "whole history"}
PERIODS = {"last 30 days": {"period": "last_30_days"}, "whole history": {"period": "custom",
           "from": "2000-01-01", "to": "2100-12-31"}}  # fmt: skip


def _sync(scale: str, work: Path) -> str:
    store = build_account(seed=1, scale=scale)
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9))
    url = f"duckdb:///{work / 'kommo.duckdb'}"
    settings = Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr(get_state(app).tokens.demo_token),
        kommo_rate_limit_per_second=50,
        data_dir=work / "data",
        database_url=url,
    )
    run_sync(settings, transport=httpx.ASGITransport(app=app))
    return url


def _copied(source: Path, work: Path, *, rebuild: bool) -> str:
    """A copy of a built warehouse file (the original is left alone), its model built (again,
    with ``rebuild``: million.py's ``large`` file holds the raw rows of a million leads but the
    model of the medium file it was scaled up from) in a child process, so that the build's
    memory is not counted as the dashboard's."""
    dest = work / "kommo.duckdb"
    shutil.copyfile(source.expanduser(), dest)
    url = f"duckdb:///{dest}"
    if rebuild or not model_info(parse_database_url(url)).get("built_at"):
        subprocess.run([sys.executable, __file__, "--build-model", url, str(work / "data")],
                       check=True)  # fmt: skip
    return url


def _build_model(url: str, data_dir: Path) -> None:
    target = parse_database_url(url)
    model_store.build_and_store(target, ChannelRules.load(None))
    Warehouse(target, data_dir).publish()  # the build writes the private file


def _store_forecast(url: str, data_dir: Path) -> None:
    """What a sync at the pinned moment leaves: the day's snapshot and the whole forecast."""
    target = parse_database_url(url)
    line = snapshots.store_snapshot(target, now=_clock(url), data_dir=data_dir)
    Warehouse(target, data_dir).publish()
    print(line)


def _clock(url: str) -> datetime:
    """The dashboard's "now": just after the newest lead (the warehouses' histories end at a
    fixed moment, and "last 30 days" must hold data)."""
    target = parse_database_url(url)
    ((newest,),) = reader.query(target, f"SELECT max(created_at) FROM {target.qualified('leads')}")
    now: datetime = (newest if newest.tzinfo else newest.replace(tzinfo=UTC)) + timedelta(hours=1)
    return now


def _pin_clock(url: str) -> datetime:
    now = _clock(url)
    filters.now_utc = lambda: now
    return now


def _rss_mb() -> float:
    resident = int(Path("/proc/self/statm").read_text().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE") / 2**20


def _profile_thread(profiler: cProfile.Profile) -> None:
    """Profile the thread AppTest runs the page's script in (started after this is set)."""
    sys.setprofile(None)
    profiler.enable()


def _render(page: str, params: dict[str, str], *, cold: bool, profile: Path | None = None) -> float:
    """Seconds to render `page`. The app first runs its default page (AppTest cannot open a
    page whose URL is not its file name before `st.navigation` has run) on a warehouse that
    does not exist, so that it costs nothing (the Overview of a million leads takes minutes);
    only the page's own run, on the real warehouse, is timed, and for a cold render every cache
    is emptied before it."""
    url = os.environ[ENV_DATABASE_URL]
    app = AppTest.from_file(str(APP), default_timeout=600)
    app.query_params.update(params)
    os.environ[ENV_DATABASE_URL] = (
        f"duckdb:///{Path(url.removeprefix('duckdb:///')).parent}/none/x.duckdb"
    )
    try:
        app.run()
    finally:
        os.environ[ENV_DATABASE_URL] = url
    if cold:
        st.cache_data.clear()
    profiler = cProfile.Profile() if profile is not None else None
    if profiler is not None:
        threading.setprofile(lambda *_: _profile_thread(profiler))
    started = time.perf_counter()
    app.switch_page(page).run()
    took = time.perf_counter() - started
    if profiler is not None and profile is not None:
        threading.setprofile(None)
        profiler.dump_stats(profile)
    if app.exception:
        raise RuntimeError(app.exception[0].message)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--warehouse", type=Path, help="a built DuckDB warehouse file to copy")
    parser.add_argument("--pages", nargs="*", choices=list(PAGES), help="default: every page")
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--rebuild-model", action="store_true", help="rebuild the copy's model")
    parser.add_argument("--in-place", action="store_true",
                        help="read the --warehouse file itself, not a copy")  # fmt: skip
    parser.add_argument("--periods", nargs="*", choices=list(PERIOD_KEYS), help="default: both")
    parser.add_argument("--profile", type=Path, help="a folder for a cProfile of each cold render")
    parser.add_argument("--warm-up", choices=list(PAGES),
                        help="render this page once, untimed, first: the process's one-time "
                        "imports are then paid, as in a dashboard already running when a sync "
                        "empties its caches")  # fmt: skip
    parser.add_argument("--filter", action="append", default=[], metavar="NAME=IDS",
                        help="a sidebar filter in every page's query string, e.g. pipeline=8852599 "
                        "or user=8449112 (the forecast of a filtered scope is made live)")  # fmt: skip
    parser.add_argument("--store-forecast", action="store_true",
                        help="keep the company's forecast first, as a sync would")  # fmt: skip
    parser.add_argument("--build-model", nargs=2, help=argparse.SUPPRESS)  # the child's job
    parser.add_argument("--forecast-child", nargs=2, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.build_model:
        _build_model(args.build_model[0], Path(args.build_model[1]))
        return
    if args.forecast_child:
        _store_forecast(args.forecast_child[0], Path(args.forecast_child[1]))
        return
    # AppTest outside a server logs a "missing ScriptRunContext" warning per cached call.
    streamlit_logger.set_log_level("error")
    work = Path(tempfile.mkdtemp(prefix="kommo-dash-bench-"))
    console = Console(width=140)
    try:
        started = time.perf_counter()
        if args.warehouse is not None and args.in_place:
            os.environ[ENV_DATABASE_URL] = f"duckdb:///{args.warehouse.expanduser().resolve()}"
            what = args.warehouse.name
        elif args.warehouse is not None:
            os.environ[ENV_DATABASE_URL] = _copied(args.warehouse, work, rebuild=args.rebuild_model)
            what = args.warehouse.name
            console.print(f"copied {args.warehouse} (and built its model if asked) "
                          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
        else:
            os.environ[ENV_DATABASE_URL] = _sync(args.scale, work)
            what = f"{args.scale} account"
            console.print(f"synced the {what} in {time.perf_counter() - started:.0f} s")
        url = os.environ[ENV_DATABASE_URL]
        # The dashboard's data folder: beside an --in-place file it outlives the run (a kept
        # forecast is reused by the next run on the same day and model).
        data_dir = work / "data"
        if args.warehouse is not None and args.in_place:
            data_dir = args.warehouse.expanduser().resolve().parent / "data"
        os.environ["DATA_DIR"] = str(data_dir)
        if args.store_forecast:
            started = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--forecast-child", url, str(data_dir)],
                           check=True)  # fmt: skip
            console.print(f"forecast kept in {time.perf_counter() - started:.0f} s")
        now = _pin_clock(url)
        console.print(f"dashboard clock pinned to {now.isoformat()}; RSS {_rss_mb():.0f} MB")
        if args.warm_up:
            took = _render(PAGES[args.warm_up], PERIODS["last 30 days"], cold=True)
            console.print(f"warmed up on {args.warm_up} ({took:.2f} s, untimed)")
        table = Table(title=f"Dashboard render times, {what} (seconds; RSS after, MB)")
        for column in ("page", "period", "cold", "warm median", "warm min", "warm max", "RSS"):
            table.add_column(column, justify="left" if column in ("page", "period") else "right")
        for name, page in PAGES.items():
            if args.pages and name not in args.pages:
                continue
            for period, params in PERIODS.items():
                if args.periods and period not in {PERIOD_KEYS[k] for k in args.periods}:
                    continue
                profile = None
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    profile = args.profile / f"{name}-{period}.prof".replace(" ", "_")
                params = {**params, **dict(f.split("=", 1) for f in args.filter)}
                cold = _render(page, params, cold=True, profile=profile)
                warm = [_render(page, params, cold=False) for _ in range(args.renders)]
                table.add_row(
                    name,
                    period,
                    f"{cold:.2f}",
                    f"{statistics.median(warm):.2f}",
                    f"{min(warm):.2f}",
                    f"{max(warm):.2f}",
                    f"{_rss_mb():.0f}",
                )
        console.print(table)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        console.print(f"peak RSS of the process: {peak:.0f} MB; load: {os.getloadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
