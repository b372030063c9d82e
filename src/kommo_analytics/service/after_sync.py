"""What every sync does after it has rebuilt the model, under its lock and before the DuckDB
publish: store the day's forecast snapshot, then run the data-quality checks (without the
reconciliation against the API, which would add requests to the sync). The `sync` command and
`serve`'s sync jobs hand this one step to ``run_sync``, so both leave the same results.

A sync that changed nothing (and found the model current) rebuilds nothing and runs
``AFTER_UNCHANGED`` instead: the forecast snapshot only when the account-local day has none yet
(a forecast moves with the date even when the data does not; within a day the stored one
stands), and no quality checks (the same data gives the same results as the stored run)."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from kommo_analytics.model.schema import model_qualified, model_schema
from kommo_analytics.service.quality import quality_after_build
from kommo_analytics.service.snapshots import TABLE, snapshot_after_build
from kommo_analytics.settings import Settings
from kommo_analytics.sync.runner import AfterBuild, AfterUnchanged, after_build_steps
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target

log = logging.getLogger(__name__)

AFTER_BUILD: AfterBuild = after_build_steps(snapshot_after_build, quality_after_build)


def _snapshot_stored_for_today(target: Target, now: datetime) -> bool:
    """Whether the writer's warehouse holds a forecast snapshot made on ``now``'s account-local
    day (the model's recorded timezone)."""
    backend = backend_for(target)
    with reader.connect(target, write=True) as con:
        if backend.columns(con, model_schema(target), TABLE) is None:
            return False
        cur = con.cursor()
        # SQL text: a model table's name and a fixed item; no user value.
        cur.execute(
            f"SELECT value FROM {model_qualified(target, 'model_info')} "  # nosec B608
            "WHERE item = 'timezone'"
        )
        row = cur.fetchone()
        zone = ZoneInfo(str(row[0]) if row and row[0] else "UTC")
        mark = reader.placeholder(target)
        # SQL text: a model table's name; the day is a parameter.
        cur.execute(
            f"SELECT COUNT(*) FROM {model_qualified(target, TABLE)} WHERE made_on = {mark}",  # nosec B608
            [now.astimezone(zone).date()],
        )
        (count,) = cur.fetchone()
    return int(count) > 0


def snapshot_if_new_day(settings: Settings, target: Target, now: datetime) -> tuple[str, bool]:
    """The day's forecast snapshot, on a sync that changed nothing, only if the day has none;
    its line, and whether anything was stored. Never raises (as the snapshot step)."""
    try:
        if _snapshot_stored_for_today(target, now):
            return "today's forecast snapshot is already stored", False
    except Exception as exc:  # an extra on top of a good sync: whatever the cause, say so
        log.warning("could not tell whether today's snapshot is stored: %s", exc, exc_info=True)
    return snapshot_after_build(settings, target, now), True


AFTER_UNCHANGED: AfterUnchanged = snapshot_if_new_day
