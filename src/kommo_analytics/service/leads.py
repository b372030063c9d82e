"""The Leads explorer's list: live leads created in a period, with their names resolved, read
one page at a time (:mod:`kommo_analytics.service.pages`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

import pandas as pd

# Re-exported: the dashboard names Kommo's closed stages through the service, not kommo/.
from kommo_analytics.kommo.entities import LOST_STATUS_ID as LOST_STATUS_ID
from kommo_analytics.kommo.entities import WON_STATUS_ID as WON_STATUS_ID
from kommo_analytics.service.account import zone_of
from kommo_analytics.service.health import utc_times
from kommo_analytics.service.pages import EXPORT_LIMIT, Page, PageRequest, clamp, sort_key
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
    newest first, with their pipeline, stage and responsible user named. Every row: for a
    bounded scope only; the explorer reads :func:`page`."""
    where, params = _where(target, scope, timezone, "")
    return _frame(reader.query(target, _select(target, where, "created", True), tuple(params)))


# Sort keys the explorer offers → the column (the joined names sort as the table shows them).
SORTS: Final = {
    "created": "l.created_at",
    "id": "l.id",
    "name": "l.name",
    "price": "l.price",
    "pipeline": "p.name",
    "stage": "s.name",
    "user": "u.name",
}
_LIKE_ESCAPE: Final = "!"  # not a backslash: MySQL and PostgreSQL read backslashes differently


def page(target: Target, scope: Scope, timezone: str, request: PageRequest) -> Page:
    """One page of the explorer's leads (those of :func:`created_in`, narrowed by the request's
    search: a lead id, or a part of the name whatever its case), sorted by a key of ``SORTS``,
    and how many leads match in all. Counted, sorted and cut by the database; values bound."""
    key = sort_key(request, SORTS, "created")
    where, params = _where(target, scope, timezone, request.search)
    q = target.qualified
    with reader.connect(target) as con:
        cur = con.cursor()
        cur.execute(  # SQL text: table names and placeholders; values are parameters.
            f"SELECT COUNT(*) FROM {q('leads')} l WHERE {' AND '.join(where)}",  # nosec B608
            params,
        )
        total = int(cur.fetchone()[0] or 0)
        number = clamp(request.number, total, request.size)
        mark = reader.placeholder(target)
        sql = f"{_select(target, where, key, request.descending)} LIMIT {mark} OFFSET {mark}"
        cur.execute(sql, [*params, request.size, (number - 1) * request.size])
        rows = [tuple(r) for r in cur.fetchall()]
    return Page(rows=_frame(rows), total=total, number=number, size=request.size)


def export_rows(
    target: Target, scope: Scope, timezone: str, request: PageRequest, limit: int = EXPORT_LIMIT
) -> pd.DataFrame:
    """The explorer's leads for a download: every lead the request's filters and search match,
    in its order, at most ``limit`` (the first ones)."""
    key = sort_key(request, SORTS, "created")
    where, params = _where(target, scope, timezone, request.search)
    mark = reader.placeholder(target)
    sql = f"{_select(target, where, key, request.descending)} LIMIT {mark}"
    return _frame(reader.query(target, sql, (*params, limit)))


def _where(target: Target, scope: Scope, timezone: str, search: str) -> tuple[list[str], list[Any]]:
    if scope.start is None or scope.end is None:
        raise ValueError("the leads explorer lists a period: give the scope a start and an end")
    created_from, created_before = utc_bounds(scope.start, scope.end, zone_of(timezone))
    mark = reader.placeholder(target)
    where = ["NOT l.is_deleted", f"l.created_at >= {mark}", f"l.created_at < {mark}"]
    params: list[Any] = [_time_param(target, created_from), _time_param(target, created_before)]
    sellers = scope.seller_ids()
    for column, ids in (("l.pipeline_id", scope.pipelines), ("l.responsible_user_id", sellers)):
        if ids:
            where.append(f"{column} IN ({', '.join([mark] * len(ids))})")
            params.extend(ids)
    text = search.strip()
    if text:
        pattern = "%" + _like_escaped(text.lower()) + "%"
        like = f"LOWER(l.name) LIKE {mark} ESCAPE '{_LIKE_ESCAPE}'"
        digits = text.lstrip("#")
        if digits.isdigit() and len(digits) < 19:  # a lead id (BIGINT)
            where.append(f"(l.id = {mark} OR {like})")
            params.extend([int(digits), pattern])
        else:
            where.append(like)
            params.append(pattern)
    return where, params


def _like_escaped(text: str) -> str:
    """Text matched literally by LIKE: its wildcards and the escape character escaped."""
    e = _LIKE_ESCAPE
    return text.replace(e, e + e).replace("%", e + "%").replace("_", e + "_")


def _select(target: Target, where: list[str], key: str, descending: bool) -> str:
    q = target.qualified
    direction = "DESC" if descending else "ASC"
    column = SORTS[key]  # a whitelisted key, never the caller's text
    return (
        # SQL text: table names, whitelisted columns and placeholders; values are parameters.
        "SELECT l.id, l.name, l.pipeline_id, p.name, l.status_id, s.name, "  # nosec B608
        "l.responsible_user_id, u.name, l.created_at, l.price, "
        "l.utm_source, l.utm_medium, l.utm_campaign "
        f"FROM {q('leads')} l "
        f"LEFT JOIN {q('pipelines')} p ON p.id = l.pipeline_id "
        f"LEFT JOIN {q('statuses')} s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id "
        f"LEFT JOIN {q('users')} u ON u.id = l.responsible_user_id "
        f"WHERE {' AND '.join(where)} "
        # Missing values last on every backend (they differ on where NULL sorts), then the id.
        f"ORDER BY CASE WHEN {column} IS NULL THEN 1 ELSE 0 END, {column} {direction}, "
        f"l.id {direction}"
    )


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
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
