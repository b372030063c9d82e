"""The writers: rebuilding the model and importing costs and goals, one at a time under the
sync's lock (on DuckDB they write the sync's file and publish it, like a sync)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.model import inputs
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
from kommo_analytics.service import names
from kommo_analytics.service.account import load_modelled
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import Purpose, writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target


def channel_rules(settings: Settings) -> ChannelRules:
    """The channel rules a build uses: the settings' file, else the shipped defaults."""
    return ChannelRules.load(settings.channel_rules_file)


def rebuild_model(settings: Settings, target: Target) -> str:
    reader.require_synced(target)
    with _locked(settings, target, "model rebuild"):
        summary = model_store.rebuild(settings, target)
        Warehouse(target, settings.data_dir).publish()
    return summary


def import_costs(
    settings: Settings, target: Target, path: Path, *, replace: bool, now: datetime
) -> tuple[int, int]:
    """Validate the whole file, then write it in one transaction; (rows imported, rows kept)."""
    account = load_modelled(target, timezone_override=settings.account_timezone)
    rows = inputs.parse_costs(inputs.read_text(path), channels=account.channels, source=path.name)
    new = [
        {
            "day": r.day,
            "channel": r.channel,
            "utm_campaign": r.utm_campaign,
            "amount": _money(r.amount),
            "imported_at": now.astimezone(UTC).replace(tzinfo=None),
            "source": path.name,
        }
        for r in rows
    ]
    first, last = min(r.day for r in rows), max(r.day for r in rows)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["day"], row["channel"], (row["utm_campaign"] or "").lower())

    with _locked(settings, target, "import"):
        existing = _stored(target, "input_costs")
        keys = {key(r) for r in new}
        kept = [
            r
            for r in existing
            if key(r) not in keys and not (replace and first <= _as_date(r["day"]) <= last)
        ]
        model_store.replace_input_rows(target, "input_costs", [*kept, *new], delete_where="1 = 1")
        Warehouse(target, settings.data_dir).publish()
    return len(new), len(kept)


def import_goals(
    settings: Settings, target: Target, path: Path, *, replace: bool, now: datetime
) -> tuple[int, int]:
    """Validate the whole file, then write it in one transaction; (rows imported, rows kept)."""
    known = names.users(target)
    if not known:
        load_modelled(target)  # says "build the model first" when that is the reason
    rows = inputs.parse_goals(inputs.read_text(path), users=known, source=path.name)
    new = [
        {
            "month": r.month,
            "user_id": r.user_id,
            "revenue_goal": _money(r.revenue_goal),
            "deals_goal": r.deals_goal,
            "imported_at": now.astimezone(UTC).replace(tzinfo=None),
            "source": path.name,
        }
        for r in rows
    ]
    months = {r["month"] for r in new}
    with _locked(settings, target, "import"):
        existing = _stored(target, "input_goals")
        keys = {(r["month"], r["user_id"]) for r in new}
        kept = [
            r
            for r in existing
            if (_as_date(r["month"]), int(r["user_id"])) not in keys
            and not (replace and _as_date(r["month"]) in months)
        ]
        model_store.replace_input_rows(target, "input_goals", [*kept, *new], delete_where="1 = 1")
        Warehouse(target, settings.data_dir).publish()
    return len(new), len(kept)


def _locked(settings: Settings, target: Target, purpose: Purpose) -> AbstractContextManager[Any]:
    return writer_lock(target, settings.data_dir, purpose)


def _money(value: Decimal) -> float:
    return float(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _stored(target: Target, table: str) -> list[dict[str, Any]]:
    """The rows already imported (read from the writer's side: on DuckDB, the sync's file)."""
    columns = list(MODEL_TABLES[table].column_names)
    model_store.prepare_writer(target)
    try:
        with reader.connect(target, write=True) as con:
            cur = con.cursor()
            # SQL text: an input table's declared columns and name; no user value.
            cur.execute(f"SELECT {', '.join(columns)} FROM {model_qualified(target, table)}")  # nosec B608
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except KommoAnalyticsError as exc:
        if reader.is_missing_table(exc):
            return []
        raise
