"""Where metrics meet a warehouse: the one place the CLI, the dashboard and reports go through to
compute numbers, rebuild the model or import costs and goals.

The metric definitions themselves (``metrics/``) are pure; this module supplies what they take as
parameters: the model's location, the account's time zone and currency, the channel keys in use,
"now", and an executor for their queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kommo_analytics.errors import ConfigError, WarehouseError
from kommo_analytics.metrics import report
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model import inputs
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import DEFAULT_CHANNELS, ChannelRules
from kommo_analytics.model.query import model_info, run_all
from kommo_analytics.model.schema import model_qualified, model_schema
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target, parse_database_url


@dataclass(frozen=True)
class Account:
    """What the last model build knew about the account."""

    timezone: str
    currency: str | None
    subdomain: str | None
    channels: tuple[str, ...]
    info: dict[str, str]

    def today(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.timezone)).date()


def target_for(settings: Settings, database_url: str | None = None) -> Target:
    return parse_database_url(database_url or settings.resolved_database_url)


def account(target: Target) -> Account:
    reader.require_synced(target)
    info = model_info(target)
    if not info:
        raise WarehouseError(
            f"the analytics model has not been built in {target.display}",
            hint="run `kommo-analytics sync` (it builds the model at the end) or "
            "`kommo-analytics model`",
        )
    channels = tuple(c for c in info.get("channels", "").split(",") if c) or DEFAULT_CHANNELS
    return Account(
        timezone=info.get("timezone") or "UTC",
        currency=info.get("currency"),
        subdomain=info.get("subdomain"),
        channels=channels,
        info=info,
    )


def params_for(
    acc: Account,
    *,
    start: date | None,
    end: date | None,
    as_of: datetime | None,
    now: datetime,
    pipelines: Sequence[int] = (),
    sellers: Sequence[int] = (),
    channels: Sequence[str] = (),
    sla_hours: float = 2.0,
) -> MetricParams:
    """Parameters with the defaults people expect: the last 30 days up to today, "now" = now."""
    moment = as_of or now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(acc.timezone))
    # Shown as the account's wall-clock time (the same instant).
    moment = moment.astimezone(ZoneInfo(acc.timezone))
    today = acc.today(moment)
    end = end or today
    start = start or end - timedelta(days=29)
    unknown = sorted(set(channels) - set(acc.channels))
    if unknown:
        raise ConfigError(
            f"unknown channel {', '.join(unknown)}", hint=f"choose from: {', '.join(acc.channels)}"
        )
    return MetricParams(
        start=start,
        end=end,
        as_of=moment,
        timezone=acc.timezone,
        pipelines=tuple(pipelines),
        sellers=tuple(sellers),
        channels=tuple(channels),
        sla_hours=sla_hours,
    )


def compute(
    target: Target,
    acc: Account,
    params: MetricParams,
    sections: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The report (or only some of its sections, see ``report.SECTIONS``)."""
    return report.compute(
        Model(model_schema(target)),
        params,
        lambda queries: run_all(target, queries),
        currency=acc.currency,
        channels=acc.channels,
        info=acc.info,
        sections=sections,
    )


# -- names people type ----------------------------------------------------------------------------


def _dimension(target: Target, table: str, columns: str) -> list[tuple[Any, ...]]:
    try:
        return reader.query(target, f"SELECT {columns} FROM {model_qualified(target, table)}")
    except Exception as exc:
        if reader.is_missing_table(exc):
            return []
        raise


def resolve_pipelines(target: Target, values: Sequence[str]) -> list[int]:
    rows = _dimension(target, "dim_pipelines", "pipeline_id, name")
    return _resolve(values, [(int(i), [str(n or "")]) for i, n in rows], "pipeline")


def users(target: Target) -> list[inputs.UserRef]:
    rows = _dimension(target, "dim_users", "user_id, name, email")
    return [inputs.UserRef(int(i), n, e) for i, n, e in rows]


def resolve_sellers(target: Target, values: Sequence[str]) -> list[int]:
    known = [(u.id, [u.name or "", u.email or ""]) for u in users(target)]
    return _resolve(values, known, "seller")


def _resolve(values: Sequence[str], known: list[tuple[int, list[str]]], what: str) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = value.strip()
        if text.isdigit() and any(i == int(text) for i, _ in known):
            ids.append(int(text))
            continue
        matches = [i for i, names in known if any(n.strip().lower() == text.lower() for n in names)]
        if len(matches) != 1:
            choices = ", ".join(f"{names[0]} ({i})" for i, names in known[:12])
            problem = "is ambiguous" if matches else "is unknown"
            raise ConfigError(f"{what} {value!r} {problem}", hint=f"give an id; known: {choices}")
        ids.append(matches[0])
    return ids


# -- writing: model, costs, goals (one writer at a time, under the sync's lock) -----------------


def _locked(settings: Settings, target: Target) -> Any:
    return writer_lock(target, settings.data_dir)


def rebuild_model(settings: Settings, target: Target) -> str:
    reader.require_synced(target)
    with _locked(settings, target):
        summary = model_store.rebuild(settings, target)
        Warehouse(target, settings.data_dir).publish()
    return summary


def import_costs(
    settings: Settings, target: Target, path: Path, *, replace: bool, now: datetime
) -> tuple[int, int]:
    """Validate the whole file, then write it in one transaction; (rows imported, rows kept)."""
    acc = account(target)
    rows = inputs.parse_costs(inputs.read_text(path), channels=acc.channels, source=path.name)
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

    with _locked(settings, target):
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
    known = users(target)
    if not known:
        account(target)  # says "build the model first" when that is the reason
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
    with _locked(settings, target):
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
    from kommo_analytics.model.schema import MODEL_TABLES

    columns = list(MODEL_TABLES[table].column_names)
    model_store.prepare_writer(target)
    try:
        with reader.connect(target, write=True) as con:
            cur = con.cursor()
            cur.execute(f"SELECT {', '.join(columns)} FROM {model_qualified(target, table)}")
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except Exception as exc:
        if reader.is_missing_table(exc):
            return []
        raise


def channel_counts(target: Target) -> dict[str, int] | None:
    """Leads (not deleted) per channel in the built model; None before the first build."""
    try:
        rows = reader.query(
            target,
            f"SELECT channel, COUNT(*) FROM {model_qualified(target, 'fact_leads')} "
            "WHERE is_deleted = FALSE GROUP BY channel",
        )
    except Exception as exc:
        if reader.is_missing_table(exc):
            return None
        raise
    return {str(channel): int(n) for channel, n in rows}


def load_rules(settings: Settings) -> ChannelRules:
    return ChannelRules.load(settings.channel_rules_file)


def now_utc(clock: Callable[[], float] | None = None) -> datetime:
    import time

    return datetime.fromtimestamp((clock or time.time)(), UTC)
