"""The Leads explorer's list: live leads created in a period, with their names resolved."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

import pandas as pd

# Re-exported: the dashboard names Kommo's closed stages through the service, not kommo/.
from kommo_analytics.kommo.entities import LOST_STATUS_ID as LOST_STATUS_ID
from kommo_analytics.kommo.entities import WON_STATUS_ID as WON_STATUS_ID
from kommo_analytics.service.account import zone_of
from kommo_analytics.service.health import utc_times
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Kind, Target

# The list joins these; a sync loads the dictionaries before any lead, so a warehouse with
# leads but without them is one whose first sync is still running.
TABLES_NEEDED: Final = frozenset({"account", "leads", "pipelines", "statuses", "users"})

COLUMNS: Final = (
    "id",
    "name",
    "pipeline_id",
    "pipeline_name",
    "status_id",
    "status_name",
    "responsible_user_id",
    "user_name",
    "created_at",
    "price",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)


def utc_bounds(start: date, end: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """``[from, before)`` in UTC covering the local days `start`..`end` in `zone`.

    Days are the account's days: a lead created at 23:30 in São Paulo on the last day is in the
    period although it is the next day in UTC. Daylight-saving days have 23 or 25 hours.
    """
    lower = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return lower, upper


def created_in(target: Target, scope: Scope, timezone: str) -> pd.DataFrame:
    """Live (not deleted) leads created on the scope's days in `timezone` (the account's),
    newest first, with their pipeline, stage and responsible user named."""
    if scope.start is None or scope.end is None:
        raise ValueError("the leads explorer lists a period: give the scope a start and an end")
    created_from, created_before = utc_bounds(scope.start, scope.end, zone_of(timezone))
    mark = reader.placeholder(target)
    q = target.qualified
    where = ["NOT l.is_deleted", f"l.created_at >= {mark}", f"l.created_at < {mark}"]
    params: list[Any] = [_time_param(target, created_from), _time_param(target, created_before)]
    sellers = scope.seller_ids()
    for column, ids in (("l.pipeline_id", scope.pipelines), ("l.responsible_user_id", sellers)):
        if ids:
            where.append(f"{column} IN ({', '.join([mark] * len(ids))})")
            params.extend(ids)
    sql = (
        # SQL text: table names and placeholders; the scope's values are parameters.
        "SELECT l.id, l.name, l.pipeline_id, p.name, l.status_id, s.name, "  # nosec B608
        "l.responsible_user_id, u.name, l.created_at, l.price, "
        "l.utm_source, l.utm_medium, l.utm_campaign "
        f"FROM {q('leads')} l "
        f"LEFT JOIN {q('pipelines')} p ON p.id = l.pipeline_id "
        f"LEFT JOIN {q('statuses')} s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id "
        f"LEFT JOIN {q('users')} u ON u.id = l.responsible_user_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY l.created_at DESC, l.id DESC"
    )
    frame = pd.DataFrame(reader.query(target, sql, tuple(params)), columns=list(COLUMNS))
    frame["created_at"] = utc_times(frame["created_at"])
    return frame


def _time_param(target: Target, value: datetime) -> datetime:
    """A UTC instant as the driver compares it with the column: MySQL DATETIME columns hold UTC
    without a zone (and pymysql drops the offset anyway), so they get a naive UTC value."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if target.kind is Kind.MYSQL else value


def status_key(status_id: int | None) -> str:
    """won / lost / open — Kommo's two fixed closed stages, everything else is open."""
    if status_id == WON_STATUS_ID:
        return "won"
    if status_id == LOST_STATUS_ID:
        return "lost"
    return "open"
