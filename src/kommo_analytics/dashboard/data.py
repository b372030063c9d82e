"""What the dashboard reads from the warehouse, as pandas DataFrames.

Every query goes through :mod:`kommo_analytics.warehouse.reader`: one short connection per query,
closed at once. A held DuckDB connection would keep the sync from publishing (and keep showing the
old file), which is why results are cached with ``st.cache_data`` and connections never are.

Cached loaders take the warehouse's *version* as an argument: a cheap, uncached probe reads when
the last sync finished and when a stream last committed, so a new sync (or a mid-run publish)
changes the cache key and the next render reads fresh data, while the TTL only bounds memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.errors import KommoAnalyticsError, WarehouseError
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import Locale, t
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import Kind, Target, parse_database_url

CACHE_TTL_SECONDS: Final = 600
RUNS_SHOWN: Final = 20

WON_STATUS: Final = 142  # Kommo's fixed ids for the closed stages of every pipeline
LOST_STATUS: Final = 143

# The leads explorer joins these; a sync loads the dictionaries before any lead, so a warehouse
# with leads but without them is one whose first sync is still running.
LEADS_TABLES: Final = frozenset({"account", "leads", "pipelines", "statuses", "users"})

LEAD_COLUMNS: Final = (
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


class Status(StrEnum):
    READY = "ready"
    EMPTY = "empty"  # reachable, but no sync has written anything yet
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Warehouse:
    """What one render found at the warehouse URL."""

    status: Status
    url: str = ""  # may hold a password: only a cache key and for connecting, never shown
    where: str = ""  # the URL without its password, for messages
    tables: frozenset[str] = field(default_factory=frozenset)
    version: str = ""
    error: KommoAnalyticsError | None = None

    @property
    def ready(self) -> bool:
        return self.status is Status.READY


@dataclass(frozen=True)
class Account:
    name: str | None
    subdomain: str | None
    currency: str | None
    timezone: str | None

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.timezone)


def zone_of(name: str | None) -> tzinfo:
    """The account's IANA time zone; UTC when it is missing or unknown to this machine."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def database_url() -> str:
    """The URL given by `kommo-analytics dashboard --db`, else DATABASE_URL / the default."""
    return os.environ.get(ENV_DATABASE_URL) or load_settings().resolved_database_url


def _query(target: Target, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    try:
        return reader.query(target, sql, params)
    except KommoAnalyticsError:
        raise
    except Exception as exc:  # driver errors: one line for people, not a traceback
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WarehouseError(f"a query on {target.display} failed: {first_line}") from exc


def probe(url: str | None = None) -> Warehouse:
    """Which raw tables exist and the warehouse's version; never raises. Not cached: it is the
    cache key of everything else (a few cheap statements on one short connection)."""
    try:
        url = url or database_url()
        target = parse_database_url(url)
    except KommoAnalyticsError as exc:
        return Warehouse(Status.UNREADABLE, error=exc)
    where = target.location
    stamp = ""
    if target.kind is Kind.DUCKDB:
        assert target.serving_path is not None
        if not target.serving_path.exists():
            return Warehouse(Status.EMPTY, url, where)
        # A publish replaces the file: its mtime changes even when a mid-run publish has not
        # moved the bookkeeping the query below reads.
        stamp = str(target.serving_path.stat().st_mtime_ns)
    mark = reader.placeholder(target)
    try:
        with reader.connect(target) as con:
            cur = con.cursor()
            cur.execute(
                f"SELECT table_name FROM information_schema.tables WHERE table_schema = {mark}",
                [target.dataset],
            )
            tables = frozenset(str(row[0]) for row in cur.fetchall()) & frozenset(TABLES)
            parts = []
            if "sync_runs" in tables:
                parts.append(
                    f"SELECT max(finished_at), count(*) FROM {target.qualified('sync_runs')}"
                )
            if "sync_state" in tables:
                parts.append(
                    f"SELECT max(updated_at), count(*) FROM {target.qualified('sync_state')}"
                )
            version = [stamp]
            for sql in parts:
                cur.execute(sql)
                version.extend(str(value) for value in cur.fetchone())
    except KommoAnalyticsError as exc:
        return Warehouse(Status.UNREADABLE, url, where, error=exc)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        error = WarehouseError(f"cannot read the warehouse {where}: {first_line}")
        return Warehouse(Status.UNREADABLE, url, where, error=error)
    if "sync_runs" not in tables:
        return Warehouse(Status.EMPTY, url, where, tables)
    return Warehouse(Status.READY, url, where, tables, "|".join(version))


def show_problem(warehouse: Warehouse, locale: Locale) -> None:
    """The message for a warehouse that has no data yet or cannot be read."""
    if warehouse.error is not None:
        show_error(warehouse.error, locale)
    else:
        show_no_data(warehouse.where, locale)


def show_no_data(where: str, locale: Locale) -> None:
    """The one "nothing synced yet" advice of every page: where it looked and what fills it."""
    st.info(t("warehouse.no_data", locale, where=f"`{where}`"))


def show_error(error: KommoAnalyticsError, locale: Locale) -> None:
    st.error(t("warehouse.unreadable", locale, message=error.message))
    if error.hint:
        st.info(t("warehouse.hint", locale, hint=error.hint))


# -- cached loaders: (url, version, ...) → data ------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_account(url: str, version: str) -> Account | None:
    target = parse_database_url(url)
    rows = _query(
        target,
        f"SELECT name, subdomain, currency, timezone FROM {target.qualified('account')} "
        "ORDER BY id LIMIT 1",
    )
    return Account(*rows[0]) if rows else None


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_pipelines(url: str, version: str) -> pd.DataFrame:
    target = parse_database_url(url)
    rows = _query(target, f"SELECT id, name FROM {target.qualified('pipelines')} ORDER BY sort, id")
    return pd.DataFrame(rows, columns=["id", "name"])


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_users(url: str, version: str) -> pd.DataFrame:
    target = parse_database_url(url)
    rows = _query(
        target, f"SELECT id, name, is_active FROM {target.qualified('users')} ORDER BY name, id"
    )
    return pd.DataFrame(rows, columns=["id", "name", "is_active"])


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_channels(url: str, version: str) -> tuple[str, ...]:
    """The channel keys of the last model build, in rule order (the defaults before one)."""
    from kommo_analytics.model.channels import DEFAULT_CHANNELS
    from kommo_analytics.model.query import model_info

    info = model_info(parse_database_url(url))
    keys = tuple(c for c in info.get("channels", "").split(",") if c)
    return keys or DEFAULT_CHANNELS


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_runs(url: str, version: str, limit: int = RUNS_SHOWN) -> pd.DataFrame:
    target = parse_database_url(url)
    columns = [
        "run_id",
        "started_at",
        "finished_at",
        "status",
        "mode",
        "rows_json",
        "requests",
        "retries",
        "rate_limited",
        "error",
        "warnings",
    ]

    def select(names: list[str]) -> list[tuple[Any, ...]]:
        return _query(
            target,
            f"SELECT {', '.join(names)} FROM {target.qualified('sync_runs')} "
            f"ORDER BY started_at DESC LIMIT {int(limit)}",
        )

    try:
        rows = select(columns)
    except WarehouseError:
        # A warehouse last synced by a version without run warnings: the column comes with the
        # next sync.
        rows = [(*row, None) for row in select(columns[:-1])]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("started_at", "finished_at"):
        frame[column] = utc_times(frame[column])
    return frame


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_streams(url: str, version: str) -> pd.DataFrame:
    target = parse_database_url(url)
    rows = _query(
        target,
        f"SELECT stream, watermark, rows_total, updated_at FROM {target.qualified('sync_state')} "
        "ORDER BY stream",
    )
    frame = pd.DataFrame(rows, columns=["stream", "watermark", "rows_total", "updated_at"])
    frame["updated_at"] = utc_times(frame["updated_at"])
    return frame


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_row_counts(url: str, version: str, tables: tuple[str, ...]) -> pd.DataFrame:
    """Rows in each of `tables`, in one statement (one connection)."""
    target = parse_database_url(url)
    if not tables:
        return pd.DataFrame({"table": [], "rows": []})
    sql = " UNION ALL ".join(
        f"SELECT '{name}', count(*) FROM {target.qualified(name)}" for name in tables
    )
    counts = dict(_query(target, sql))
    return pd.DataFrame({"table": list(tables), "rows": [int(counts[name]) for name in tables]})


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_tracking_codes(url: str, version: str) -> pd.DataFrame:
    """Each tracking code the live leads carry with a value: one of its field names and how
    many leads have it, most frequent first."""
    target = parse_database_url(url)
    q = target.qualified
    rows = _query(
        target,
        "SELECT t.code, MIN(t.name), COUNT(DISTINCT t.lead_id) "
        f"FROM {q('lead_tracking')} t JOIN {q('leads')} l ON l.id = t.lead_id "
        "WHERE NOT l.is_deleted AND TRIM(t.value) <> '' "
        "GROUP BY t.code ORDER BY COUNT(DISTINCT t.lead_id) DESC, t.code",
    )
    return pd.DataFrame(rows, columns=["code", "name", "leads"])


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_tracking_used(url: str, version: str) -> frozenset[str] | None:
    """The tracking fields the channel rules of the last model build look at; None when no
    model, or one built before this was recorded, says."""
    from kommo_analytics.model.query import model_info

    used = model_info(parse_database_url(url)).get("tracking_fields_used")
    return None if used is None else frozenset(c for c in used.split(",") if c)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_leads(
    url: str,
    version: str,
    created_from: datetime,
    created_before: datetime,
    pipelines: tuple[int, ...] = (),
    users: tuple[int, ...] = (),
) -> pd.DataFrame:
    """Live (not deleted) leads created in ``[created_from, created_before)`` (UTC instants),
    newest first, with their pipeline, stage and responsible user named."""
    target = parse_database_url(url)
    mark = reader.placeholder(target)
    q = target.qualified
    where = ["NOT l.is_deleted", f"l.created_at >= {mark}", f"l.created_at < {mark}"]
    params: list[Any] = [_time_param(target, created_from), _time_param(target, created_before)]
    if pipelines:
        where.append(f"l.pipeline_id IN ({', '.join([mark] * len(pipelines))})")
        params.extend(pipelines)
    if users:
        where.append(f"l.responsible_user_id IN ({', '.join([mark] * len(users))})")
        params.extend(users)
    sql = (
        "SELECT l.id, l.name, l.pipeline_id, p.name, l.status_id, s.name, "
        "l.responsible_user_id, u.name, l.created_at, l.price, "
        "l.utm_source, l.utm_medium, l.utm_campaign "
        f"FROM {q('leads')} l "
        f"LEFT JOIN {q('pipelines')} p ON p.id = l.pipeline_id "
        f"LEFT JOIN {q('statuses')} s ON s.pipeline_id = l.pipeline_id AND s.id = l.status_id "
        f"LEFT JOIN {q('users')} u ON u.id = l.responsible_user_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY l.created_at DESC, l.id DESC"
    )
    frame = pd.DataFrame(_query(target, sql, tuple(params)), columns=list(LEAD_COLUMNS))
    frame["created_at"] = utc_times(frame["created_at"])
    return frame


def _time_param(target: Target, value: datetime) -> datetime:
    """A UTC instant as the driver compares it with the column: MySQL DATETIME columns hold UTC
    without a zone (and pymysql drops the offset anyway), so they get a naive UTC value."""
    value = value.astimezone(UTC)
    return value.replace(tzinfo=None) if target.kind is Kind.MYSQL else value


def utc_times(values: pd.Series) -> pd.Series:
    """Timestamps as UTC instants: DuckDB returns them in the session's zone, MySQL without a
    zone (UTC by construction of the load)."""
    return pd.to_datetime(values, utc=True)


def status_key(status_id: int | None) -> str:
    """won / lost / open — Kommo's two fixed closed stages, everything else is open."""
    if status_id == WON_STATUS:
        return "won"
    if status_id == LOST_STATUS:
        return "lost"
    return "open"
