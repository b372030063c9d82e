"""How fast each dashboard page feels in a browser: headless Chromium, from navigation to the
last chart drawn, cold and after a filter change.

Serves the dashboard as ``kommo-analytics dashboard`` does (``serve_dashboard`` in a child
process) on a copy of a built warehouse — by default ``benchmarks/million.py``'s cached
``medium`` account (about 49,700 leads; built there first when missing) — and drives it with
Debian's Chromium through Playwright. For every page and every repeat:

- **cold**: a new browser context (empty HTTP cache, new Streamlit session), navigation to the
  page, until the page is complete: Streamlit's script run has ended, nothing of an earlier run
  is left (``data-stale``, skeletons), every Plotly chart has drawn its SVG, and the page has not
  changed for ``--quiet`` ms. The time is that of the page's last change, measured in the page
  (``performance.now()``, whose origin is the navigation's start), so the polling from here adds
  nothing to it.
- **filter**: in the same tab, the *Paid* channel picked in the sidebar, from the key press that
  picks it to the page's last change after the rerun it starts.

Each repeat opens another 30-day period (one day earlier each time) so that the server's
caches never hold the view already: every figure includes computing the page's numbers, as
after a sync. One untimed visit of every page first pays the server process's one-time imports.

The phases (medians) show where the time goes: ``connect`` is navigation → the websocket
connected (the HTML and the app's JavaScript), ``run`` is the script run's start → end as the
page sees it (the server computing and sending the page), ``draw`` is the run's end → the last
change (the browser drawing what it was sent, Plotly mostly).

    .venv/bin/python benchmarks/browser_timing.py --repeats 5
    .venv/bin/python benchmarks/browser_timing.py --pages overview funnel --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from rich.console import Console
from rich.table import Table

CHROMIUM = Path("/usr/bin/chromium")
DEFAULT_CACHE = Path("~/.cache/kommo-analytics-bench").expanduser()
# URL path → the page's English title.
PAGES = {
    "overview": "Overview",
    "leads-and-origin": "Leads and origin",
    "funnel": "Funnel",
    "activities": "Activities",
    "sales": "Sales",
    "performance": "Performance",
    "forecast": "Forecast",
    "leads": "Leads",
    "definitions": "Definitions",
    "data-health": "Data health",
    "settings": "KPI targets",
}
CEILING_S = 300.0  # only a hung page reaches it

# Installed in every document before its scripts run: a record of when the page last changed and
# of the app's run state, kept by a MutationObserver (called in the same task as the change).
PROBE = """
(() => {
  const k = window.__kt = {last: 0, connected: null, runStart: null, runEnd: null,
                           since: 0, state: null};
  const look = () => {
    const now = performance.now();
    k.last = now;
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) return;
    if (k.connected === null && app.getAttribute('data-test-connection-state') === 'CONNECTED')
      k.connected = now;
    const state = app.getAttribute('data-test-script-state');
    if (state !== k.state) {
      if (state === 'running' && k.runStart === null && now >= k.since) k.runStart = now;
      if (state === 'notRunning' && k.runStart !== null) k.runEnd = now;
      k.state = state;
    }
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true,
                                                attributes: true, characterData: true});
  // The key press that picks a filter: the start of a filter change.
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter' && k.armed) {
      k.armed = false; k.since = e.timeStamp; k.runStart = null; k.runEnd = null;
    }
  }, true);
})();
"""

# Whether the page is complete now (the time of its last change is read beside it).
COMPLETE = """
() => {
  const k = window.__kt;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!k || !app) return null;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  const done = app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning'
    && k.runStart !== null && k.runEnd !== null
    && document.querySelector('[data-stale="true"]') === null
    && document.querySelector('[data-testid="stSkeleton"]') === null
    && document.querySelector('[data-testid="stMainBlockContainer"] h1') !== null
    && charts.every(c => c.querySelector('.main-svg') !== null);
  return {done, now: performance.now(), last: k.last, connected: k.connected, since: k.since,
          runStart: k.runStart, runEnd: k.runEnd, charts: charts.length,
          error: document.querySelector('[data-testid="stException"]') !== null};
}
"""


@dataclass
class Timing:
    total: float  # seconds from the start (navigation or key press) to the last change
    connect: float | None
    run: float
    draw: float
    charts: int


@dataclass
class Result:
    cold: list[Timing] = field(default_factory=list)
    filtered: list[Timing] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served(url: str, data_dir: Path, log: Path) -> Iterator[str]:
    """``serve_dashboard`` in a child process of its own session; its address."""
    port = _free_port()
    code = (
        "from kommo_analytics.cli.dashboard_cmd import serve_dashboard\n"
        f"serve_dashboard(host='127.0.0.1', port={port}, database_url={url!r})\n"
    )
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, env=env)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + CEILING_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_complete(page: Page, quiet_ms: float) -> Timing:
    """Poll until the page is complete and unchanged for `quiet_ms`; its timing."""
    deadline = time.monotonic() + CEILING_S
    while True:
        state: dict[str, Any] | None = page.evaluate(COMPLETE)
        if state is not None and state["error"]:
            raise RuntimeError(f"{page.url} shows an exception")
        if state is not None and state["done"] and state["now"] - state["last"] >= quiet_ms:
            since, last = state["since"], state["last"]
            connect = state["connected"] - since if since == 0 else None
            return Timing(
                total=(last - since) / 1000,
                connect=None if connect is None else connect / 1000,
                run=(state["runEnd"] - state["runStart"]) / 1000,
                draw=(last - state["runEnd"]) / 1000,
                charts=int(state["charts"]),
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{page.url} was not complete after {CEILING_S:.0f} s: {state}")
        time.sleep(0.05)


def pick_channel(page: Page, label: str, option: str) -> None:
    """Pick `option` in the sidebar's multiselect `label` by typing it; the Enter that picks it
    starts the clock in the page."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stMultiSelect").filter(has_text=label).click()
    page.keyboard.type(option)
    page.get_by_role("listbox").get_by_text(option, exact=True).wait_for()
    page.evaluate("() => { window.__kt.armed = true; }")
    page.keyboard.press("Enter")


def visit(
    browser: Browser, url: str, quiet_ms: float, *, change: bool
) -> tuple[Timing, Timing | None]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    context.set_default_timeout(CEILING_S * 1000)
    try:
        context.add_init_script(PROBE)
        page = context.new_page()
        page.goto(url)
        cold = wait_complete(page, quiet_ms)
        if not change:
            return cold, None
        pick_channel(page, "Channels", "Paid")
        return cold, wait_complete(page, quiet_ms)
    finally:
        context.close()


def newest_day(url: str) -> date:
    """The day of the warehouse's newest lead: the periods end there, so they hold data."""
    from kommo_analytics.warehouse import reader
    from kommo_analytics.warehouse.target import parse_database_url

    target = parse_database_url(url)
    ((newest,),) = reader.query(target, f"SELECT max(created_at) FROM {target.qualified('leads')}")
    return (newest if newest.tzinfo else newest.replace(tzinfo=UTC)).date()


def store_forecast(url: str, data_dir: Path) -> None:
    """What today's sync leaves: the day's forecast kept, read by the Overview and Forecast."""
    from kommo_analytics.service import snapshots
    from kommo_analytics.warehouse.loader import Warehouse
    from kommo_analytics.warehouse.target import parse_database_url

    target = parse_database_url(url)
    print(snapshots.store_snapshot(target, now=datetime.now(UTC), data_dir=data_dir))
    Warehouse(target, data_dir).publish()


def _span(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, help="a built DuckDB warehouse file to copy "
                        "(default: million.py's cached medium one)")  # fmt: skip
    parser.add_argument("--pages", nargs="*", choices=list(PAGES), help="default: every page")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quiet", type=float, default=1000.0,
                        help="ms without a change that make a page complete")  # fmt: skip
    parser.add_argument("--forecast-child", nargs=2, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.forecast_child:
        store_forecast(args.forecast_child[0], Path(args.forecast_child[1]))
        return
    console = Console(width=160)
    source = args.warehouse
    if source is None:
        sys.path.insert(0, str(Path(__file__).parent))
        import million

        source = million.warehouse("medium", DEFAULT_CACHE)
    work = Path(tempfile.mkdtemp(prefix="kommo-browser-bench-"))
    try:
        # The served file and the sync's private one (the forecast below is kept by a writer).
        for name in ("kommo.duckdb", "kommo.sync.duckdb"):
            shutil.copyfile(source.expanduser(), work / name)
        url = f"duckdb:///{work / 'kommo.duckdb'}"
        data_dir = work / "data"
        subprocess.run([sys.executable, __file__, "--forecast-child", url, str(data_dir)],
                       check=True)  # fmt: skip
        end = newest_day(url)
        pages = args.pages or list(PAGES)
        results = {name: Result() for name in pages}
        loads = [_load()]
        with served(url, data_dir, work / "dashboard.log") as base, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run"],
            )  # fmt: skip

            def address(name: str, shift: int) -> str:
                last = end - timedelta(days=shift)
                first = last - timedelta(days=29)
                path = "" if name == "overview" else name
                return f"{base}/{path}?lang=en&period=custom&from={first}&to={last}"

            # Untimed: the server's imports, and the first Plotly chart's chunk.
            for name in pages:
                visit(browser, address(name, 1000), args.quiet, change=False)
            console.print(f"warmed up; load {_load()}")
            for repeat in range(args.repeats):
                for name in pages:
                    cold, filtered = visit(browser, address(name, repeat), args.quiet, change=True)
                    results[name].cold.append(cold)
                    assert filtered is not None
                    results[name].filtered.append(filtered)
                loads.append(_load())
                console.print(f"repeat {repeat + 1}/{args.repeats} done; load {loads[-1]}")
            browser.close()
        table = Table(title=f"Browser timings, {source.name}: seconds, median (min–max) of "
                      f"{args.repeats}; phases are medians")  # fmt: skip
        for column in ("page", "charts", "cold", "connect", "run", "draw", "filter change",
                       "run ", "draw "):  # fmt: skip
            table.add_column(column, justify="left" if column == "page" else "right")
        for name, result in results.items():
            cold, filtered = result.cold, result.filtered
            table.add_row(
                PAGES[name],
                str(cold[0].charts),
                _span([t.total for t in cold]),
                f"{statistics.median([t.connect or 0.0 for t in cold]):.2f}",
                f"{statistics.median([t.run for t in cold]):.2f}",
                f"{statistics.median([t.draw for t in cold]):.2f}",
                _span([t.total for t in filtered]),
                f"{statistics.median([t.run for t in filtered]):.2f}",
                f"{statistics.median([t.draw for t in filtered]):.2f}",
            )
        console.print(table)
        console.print(f"load average (1 / 5 / 15 min) before and after each repeat: {loads}")
        console.print(
            f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
