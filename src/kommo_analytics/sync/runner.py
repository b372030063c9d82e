"""Running one sync from settings: the lock, the client, the warehouse, the engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from kommo_analytics.kommo.client import client_from_settings
from kommo_analytics.model.store import rebuild
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import Reporter, SyncEngine, SyncOptions, SyncResult
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url


def run_sync(
    settings: Settings,
    options: SyncOptions | None = None,
    reporter: Reporter | None = None,
    *,
    database_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> SyncResult:
    target = parse_database_url(database_url or settings.resolved_database_url)
    warehouse = Warehouse(target, settings.data_dir)

    async def main() -> SyncResult:
        async with client_from_settings(settings, transport=transport) as client:
            engine = SyncEngine(
                client,
                warehouse,
                options,
                reporter,
                clock=clock,
                after_load=lambda step: rebuild(settings, target, now=clock, on_step=step),
                account_timezone=settings.account_timezone,
            )
            return await engine.run()

    with writer_lock(target, settings.data_dir):
        return asyncio.run(main())
