"""Storing the forecast a sync would show: the company's current month and the next two, one
snapshot per account-local day (a later sync the same day replaces that day's rows).

Runs inside the sync, after the model is rebuilt and before the sync publishes: it holds the
writer lock and reads the model through the writer's connection (on DuckDB the private file the
readers have not got yet). A forecast that cannot be made (too little history) stores nothing.

With the settings' data folder, the whole result is also kept there (``forecast_store.py``): the
dashboard's company forecast reads it instead of simulating again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kommo_analytics.forecast.accuracy import snapshots as snapshot_rows
from kommo_analytics.forecast.engine import DEFAULT_DRAWS
from kommo_analytics.forecast.result import Snapshot
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import forecast_store, forecasts
from kommo_analytics.service.account import Account
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target
from kommo_analytics.workdays import calendar_for

log = logging.getLogger(__name__)

TABLE = "forecast_snapshots"


def _writer_account(
    target: Target, timezone_override: str | None, holidays_country: str | None = None
) -> Account:
    """The account as the build just recorded it, read on the writer's connection, with the
    holiday calendar every reader uses (``HOLIDAYS_COUNTRY``, else the account's country)."""
    with reader.connect(target, write=True) as con:
        cur = con.cursor()
        # SQL text: table names the code qualifies; no user value.
        cur.execute(f"SELECT item, value FROM {model_qualified(target, 'model_info')}")  # nosec B608
        info = {str(k): str(v) for k, v in cur.fetchall() if v is not None}
        country = None
        try:
            # SQL text: a table name the code qualifies; no user value.
            cur.execute(f"SELECT country FROM {target.qualified('account')} ORDER BY id LIMIT 1")  # nosec B608
            row = cur.fetchone()
            country = str(row[0]) if row and row[0] else None
        except Exception:  # no account row synced (a bare model): weekends only, as readers do
            country = None
    timezone = info.get("timezone") or timezone_override or "UTC"
    return Account(
        None,
        info.get("subdomain"),
        info.get("currency"),
        timezone,
        info=info,
        calendar=calendar_for(holidays_country, country),
    )


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
    holidays_country: str | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> str:
    """Forecast as of ``now`` and store it as the day's snapshot (and, with ``data_dir``, the
    whole result for the dashboard); a one-line summary. The caller holds the writer lock."""
    acc = _writer_account(target, timezone_override, holidays_country)
    given = forecasts.inputs(target, acc, Scope(), now=now, write=True)
    result = forecasts.forecast_of(given, seed=seed, draws=draws)
    if data_dir is not None:
        key = forecast_store.key_of(acc, given.goals, seed=seed, draws=draws)
        forecast_store.save(data_dir, result, key)
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
        return store_snapshot(
            target,
            now=now,
            timezone_override=settings.account_timezone,
            holidays_country=settings.holidays_country,
            data_dir=settings.data_dir,
        )
    except Exception as exc:  # an extra on top of a good sync: whatever the cause, say so
        log.warning("forecast snapshot not stored: %s", exc, exc_info=True)
        return f"no forecast snapshot stored: {exc}"
