"""Storing the forecast a sync would show: the company's current month and the next two, one
snapshot per account-local day (a later sync the same day replaces that day's rows).

Runs inside the sync, after the model is rebuilt and before the sync publishes: it holds the
writer lock and reads the model through the writer's connection (on DuckDB the private file the
readers have not got yet). A forecast that cannot be made (too little history) stores nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kommo_analytics.forecast.accuracy import snapshots as snapshot_rows
from kommo_analytics.forecast.engine import DEFAULT_DRAWS
from kommo_analytics.forecast.result import Snapshot
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import forecasts
from kommo_analytics.service.account import Account
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target

log = logging.getLogger(__name__)

TABLE = "forecast_snapshots"


def _writer_account(target: Target, timezone_override: str | None) -> Account:
    """The account as the build just recorded it, read on the writer's connection."""
    with reader.connect(target, write=True) as con:
        cur = con.cursor()
        # SQL text: table names the code qualifies; no user value.
        cur.execute(f"SELECT item, value FROM {model_qualified(target, 'model_info')}")  # nosec B608
        info = {str(k): str(v) for k, v in cur.fetchall() if v is not None}
    timezone = info.get("timezone") or timezone_override or "UTC"
    return Account(None, info.get("subdomain"), info.get("currency"), timezone, info=info)


def _row(s: Snapshot) -> dict[str, Any]:
    return {
        "made_on": s.made_on,
        # The model stores instants as naive UTC.
        "as_of": s.as_of.astimezone(UTC).replace(tzinfo=None),
        "month": s.month,
        "revenue_p10": s.revenue.p10,
        "revenue_p50": s.revenue.p50,
        "revenue_p90": s.revenue.p90,
        "won_deals_p10": s.won_deals.p10,
        "won_deals_p50": s.won_deals.p50,
        "won_deals_p90": s.won_deals.p90,
        "method": s.method,
        "seed": s.seed,
    }


def store_snapshot(
    target: Target,
    *,
    now: datetime,
    timezone_override: str | None = None,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> str:
    """Forecast as of ``now`` and store it as the day's snapshot; a one-line summary. The caller
    holds the writer lock."""
    acc = _writer_account(target, timezone_override)
    given = forecasts.inputs(target, acc, Scope(), now=now, write=True)
    result = forecasts.forecast_of(given, seed=seed, draws=draws)
    rows = snapshot_rows(result)
    if not rows:
        return f"no forecast snapshot stored: {result.reason}"
    day = rows[0].made_on
    mark = reader.placeholder(target)
    model_store.replace_input_rows(
        target,
        TABLE,
        [_row(s) for s in rows],
        delete_where=f"made_on = {mark}",
        delete_params=[day],
    )
    return f"forecast snapshot stored for {day.isoformat()} ({len(rows)} months)"


def snapshot_after_build(settings: Settings, target: Target, now: datetime) -> str:
    """:func:`store_snapshot` as the sync's step after the build (``run_sync(after_build=…)``): a
    failure is logged and reported, never raised (the sync's data and model are good without a
    snapshot)."""
    try:
        return store_snapshot(target, now=now, timezone_override=settings.account_timezone)
    except Exception as exc:  # an extra on top of a good sync: whatever the cause, say so
        log.warning("forecast snapshot not stored: %s", exc, exc_info=True)
        return f"no forecast snapshot stored: {exc}"
