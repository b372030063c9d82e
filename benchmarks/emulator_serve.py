"""How fast the emulator serves pages, and how much memory it holds, per account scale.

Builds an account, then requests pages in-process (through the whole protocol layer: rate
limiter, auth, faults) and prints a table of latency per kind of page and the peak RSS.

    .venv/bin/python benchmarks/emulator_serve.py --scales small,medium
    .venv/bin/python benchmarks/emulator_serve.py --scales large --pages 200
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import time

import httpx
from rich.console import Console
from rich.table import Table

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state

NOW = 1_764_028_800  # 2025-11-25 00:00 UTC: fixed so that runs are comparable

Row = tuple[str, str, int, float, float]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _time_pages(client: httpx.AsyncClient, urls: list[str]) -> list[float]:
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = await client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return timings


async def _bench(scale: str, pages: int) -> list[Row]:
    started = time.perf_counter()
    store = build_account(seed=1, scale=scale, now=NOW)
    build_s = time.perf_counter() - started
    leads = store.count("leads")
    events = store.count("events")
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e9))
    token = get_state(app).tokens.demo_token
    last_lead_page = max(1, leads // 250)
    last_event_page = max(1, events // 100)
    window = f"&filter[updated_at][from]={NOW - 90 * 86400}&filter[updated_at][to]={NOW}"
    kinds = {
        "leads pages, with=contacts,loss_reason": [
            f"/api/v4/leads?limit=250&page={p}&with=contacts,loss_reason"
            for p in range(1, min(pages, last_lead_page) + 1)
        ],
        "leads, last pages (deep OFFSET)": [
            f"/api/v4/leads?limit=250&page={p}"
            for p in range(max(1, last_lead_page - pages // 4), last_lead_page + 1)
        ],
        "leads, 90-day updated_at window": [
            f"/api/v4/leads?limit=250&page={p}&order[updated_at]=asc{window}"
            for p in range(1, pages // 4 + 1)
        ],
        "events pages (100 rows)": [
            f"/api/v4/events?limit=100&page={p}" for p in range(1, min(pages, last_event_page) + 1)
        ],
        "tasks pages": [f"/api/v4/tasks?limit=250&page={p}" for p in range(1, pages // 4 + 1)],
    }
    rows: list[Row] = [(scale, f"build ({leads:,} leads, {events:,} events)", 1, build_s * 1e3, 0)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://kommo.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        for kind, urls in kinds.items():
            timings = await _time_pages(client, urls)
            p95 = statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
            rows.append((scale, kind, len(timings), statistics.median(timings), p95))
    del store, app
    gc.collect()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="small,medium")
    parser.add_argument("--pages", type=int, default=80, help="pages per kind of request")
    args = parser.parse_args()
    table = Table(title="Emulator serving (in-process, through the protocol layer)")
    for column in ("scale", "request", "pages", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column in ("scale", "request") else "right")
    for scale in args.scales.split(","):
        for scale_name, kind, n, median, p95 in asyncio.run(_bench(scale.strip(), args.pages)):
            table.add_row(scale_name, kind, str(n), f"{median:,.1f}", f"{p95:,.1f}" if p95 else "")
        table.add_row(scale, "peak RSS of the process so far (MB)", "", f"{_rss_mb():,.0f}", "")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
