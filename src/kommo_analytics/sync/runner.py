"""Running one sync from settings: the lock, the client, the warehouse, the engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.client import client_from_settings
from kommo_analytics.model import incremental
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.store import rebuild
from kommo_analytics.model.update import update_model
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import (
    NOTHING_CHANGED,
    Reporter,
    SyncEngine,
    SyncOptions,
    SyncResult,
)
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target, parse_database_url

# A step run after the model is rebuilt, under the same lock and before the same publish (the
# service's forecast snapshot: sync/ sits below service/, so the caller hands it in); returns a
# line for the progress output.
AfterBuild = Callable[[Settings, Target, datetime], str]

# A step run instead when the sync changed nothing and the model is current (the service's
# forecast snapshot of a new day); its line for the progress output, and whether it wrote
# anything readers should get (then the sync publishes).
AfterUnchanged = Callable[[Settings, Target, datetime], tuple[str, bool]]


def after_build_steps(*steps: AfterBuild) -> AfterBuild:
    """Several after-build steps as one, run in order: one line of progress output each."""

    def run(settings: Settings, target: Target, now: datetime) -> str:
        return "\n".join(step(settings, target, now) for step in steps)

    return run


def run_sync(
    settings: Settings,
    options: SyncOptions | None = None,
    reporter: Reporter | None = None,
    *,
    database_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    after_build: AfterBuild | None = None,
    after_unchanged: AfterUnchanged | None = None,
) -> SyncResult:
    target = parse_database_url(database_url or settings.resolved_database_url)
    # The model build at the end reads the channel rules: a file it would refuse must stop the
    # sync now, not after a crawl of many minutes.
    ChannelRules.load(settings.channel_rules_file)
    full = options is not None and options.full
    # A full sync rewrites everything: it rebuilds without comparing what it loads.
    warehouse = Warehouse(target, settings.data_dir, compare=not full)
    # Whether the model was current before this run changed anything: only then do the keys
    # this run's loads touched cover every difference between the raw tables and the model (a
    # killed run's keys are lost with it), so that the model can be updated for them alone.
    was_current = False

    def before_change() -> None:
        # Before the first load that changes a stored row: the model is no longer current.
        nonlocal was_current
        try:
            rules = ChannelRules.load(settings.channel_rules_file)
        except ConfigError:
            rules = None  # edited into a bad file mid-run: the rebuild at the end says so
        if rules is not None:
            was_current = incremental.model_current(target, rules, settings.account_timezone)
        incremental.mark_stale(target, datetime.fromtimestamp(clock(), UTC))

    warehouse.before_change = before_change
    wrote = False

    def unchanged() -> str | None:
        nonlocal wrote
        if full or warehouse.changed:
            return None
        # Read again: the rules file may have been edited while the sync ran.
        rules = ChannelRules.load(settings.channel_rules_file)
        if not incremental.model_current(target, rules, settings.account_timezone):
            return None
        if after_unchanged is None:
            return NOTHING_CHANGED
        line, wrote = after_unchanged(settings, target, datetime.fromtimestamp(clock(), UTC))
        return f"{NOTHING_CHANGED}; {line}"

    def publish_needed() -> bool:
        age = warehouse.backend.served_age()
        return (
            wrote
            or age is None
            or age >= (options or SyncOptions()).republish_unchanged_seconds
            or not incremental.served_current(target)
        )

    def after_load(step: Callable[[], None]) -> str:
        built = None
        if was_current and not full:
            built = update_model(
                settings, target, warehouse.changed, warehouse.touched, now=clock, on_step=step
            )
        if built is None:
            built = rebuild(settings, target, now=clock, on_step=step)
        if after_build is None:
            return built
        return f"{built}; {after_build(settings, target, datetime.fromtimestamp(clock(), UTC))}"

    async def main() -> SyncResult:
        async with client_from_settings(settings, transport=transport) as client:
            engine = SyncEngine(
                client,
                warehouse,
                options,
                reporter,
                clock=clock,
                after_load=after_load,
                account_timezone=settings.account_timezone,
                unchanged=unchanged,
                publish_needed=publish_needed,
            )
            return await engine.run()

    with writer_lock(target, settings.data_dir):
        return asyncio.run(main())
