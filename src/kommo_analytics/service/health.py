"""The data-health reads: what a warehouse URL holds (the probe), the sync's runs and streams,
row counts, the tracking codes the leads carry, the leads per channel, and what in the set-up
deserves a warning (misspelt settings, files others can read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import pandas as pd

from kommo_analytics import files
from kommo_analytics.errors import KommoAnalyticsError, WarehouseError
from kommo_analytics.model.query import model_info
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import _sql
from kommo_analytics.settings import UnknownSetting, unknown_settings
from kommo_analytics.sync.lock import writer_active
from kommo_analytics.sync.streams import MODEL, STREAM_NAMES
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import Target, parse_database_url

RAW_TABLES: Final = tuple(TABLES)  # every raw table, in the order the sync declares them
# What the sync's bookkeeping names a stream by (`sync_state.stream`, the keys of a run's rows):
# the declared streams, and the model build the progress shows beside them.
STREAMS: Final = (*STREAM_NAMES, MODEL)
RUNS_SHOWN: Final = 20
RUNNING: Final = "running"
INTERRUPTED: Final = "interrupted"

RUN_COLUMNS: Final = (
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
)


class Status(StrEnum):
    READY = "ready"
    EMPTY = "empty"  # reachable, but no sync has written anything yet
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class WarehouseState:
    """What a probe found at a warehouse URL."""

    status: Status
    # May hold a password: only a cache key and for connecting, never shown (not even in a repr,
    # which the dashboard's session state and a log line would carry).
    url: str = field(default="", repr=False)
    where: str = ""  # the URL without its password, for messages
    tables: frozenset[str] = field(default_factory=frozenset)
    version: str = ""
    error: KommoAnalyticsError | None = None

    @property
    def ready(self) -> bool:
        return self.status is Status.READY


def probe(url: str) -> WarehouseState:
    """Which raw tables exist and the warehouse's version; never raises. The version changes
    with every sync and every mid-run publish, so it can key cached reads (a few cheap
    statements on one short connection)."""
    try:
        target = parse_database_url(url)
    except KommoAnalyticsError as exc:
        return WarehouseState(Status.UNREADABLE, error=exc)
    where = target.location
    backend = backend_for(target)
    stamp = backend.served_stamp()
    if stamp is None:
        return WarehouseState(Status.EMPTY, url, where)
    try:
        tables = backend.existing_tables(target.dataset) & frozenset(TABLES)
        version = [stamp]
        for table, column in (("sync_runs", "finished_at"), ("sync_state", "updated_at")):
            if table in tables:
                # SQL text: a fixed table and column pair; no user value.
                sql = f"SELECT max({column}), count(*) FROM {target.qualified(table)}"  # nosec B608
                version.extend(str(value) for value in reader.query(target, sql)[0])
    except KommoAnalyticsError as exc:
        return WarehouseState(Status.UNREADABLE, url, where, error=exc)
    if "sync_runs" not in tables:
        return WarehouseState(Status.EMPTY, url, where, tables)
    return WarehouseState(Status.READY, url, where, tables, "|".join(version))


def runs(target: Target, limit: int = RUNS_SHOWN, *, data_dir: Path | None = None) -> pd.DataFrame:
    """The last sync runs, newest first, with UTC times. With ``data_dir`` (where the writer's
    file lock lives), a `running` run that no writer holds the lock for is `interrupted`: it
    was killed, and only the next sync can record that in the table."""
    columns = list(RUN_COLUMNS)

    def select(names: list[str]) -> list[tuple[Any, ...]]:
        return reader.query(
            target,
            # SQL text: the code's column names and an int limit; no user value.
            f"SELECT {', '.join(names)} FROM {target.qualified('sync_runs')} "  # nosec B608
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
    running = frame["status"] == RUNNING
    if data_dir is not None and running.any() and not writer_active(target, data_dir):
        frame.loc[running, "status"] = INTERRUPTED
    return frame


def streams(target: Target) -> pd.DataFrame:
    """Each stream's watermark, rows and last commit (UTC)."""
    rows = reader.query(
        target,
        # SQL text: table names the code qualifies; no user value.
        f"SELECT stream, watermark, rows_total, updated_at FROM {target.qualified('sync_state')} "  # nosec B608
        "ORDER BY stream",
    )
    frame = pd.DataFrame(rows, columns=["stream", "watermark", "rows_total", "updated_at"])
    frame["updated_at"] = utc_times(frame["updated_at"])
    return frame


def row_counts(target: Target, tables: tuple[str, ...]) -> pd.DataFrame:
    """Rows in each of the raw `tables`, in one statement (one connection)."""
    if not tables:
        return pd.DataFrame({"table": [], "rows": []})
    unknown = set(tables) - set(TABLES)
    if unknown:  # the names go into the SQL text
        raise ValueError(f"not raw tables: {sorted(unknown)}")
    sql = " UNION ALL ".join(
        # SQL text: raw table names, checked against TABLES above; no user value.
        f"SELECT '{name}', count(*) FROM {target.qualified(name)}"  # nosec B608
        for name in tables
    )
    counts = dict(reader.query(target, sql))
    return pd.DataFrame({"table": list(tables), "rows": [int(counts[name]) for name in tables]})


def tracking_codes(target: Target) -> pd.DataFrame:
    """Each tracking code the live leads carry with a value: one of its field names and how
    many leads have it, most frequent first."""
    q = target.qualified
    rows = reader.query(
        target,
        # SQL text: table names the code qualifies; no user value.
        "SELECT t.code, MIN(t.name), COUNT(DISTINCT t.lead_id) "  # nosec B608
        f"FROM {q('lead_tracking')} t JOIN {q('leads')} l ON l.id = t.lead_id "
        "WHERE NOT l.is_deleted AND TRIM(t.value) <> '' "
        "GROUP BY t.code ORDER BY COUNT(DISTINCT t.lead_id) DESC, t.code",
    )
    return pd.DataFrame(rows, columns=["code", "name", "leads"])


def tracking_used(target: Target) -> frozenset[str] | None:
    """The tracking fields the channel rules of the last model build look at; None when no
    model, or one built before this was recorded, says."""
    used = model_info(target).get("tracking_fields_used")
    return None if used is None else frozenset(c for c in used.split(",") if c)


def channel_counts(target: Target) -> dict[str, int] | None:
    """Leads (not deleted) per channel in the built model; None before the first build."""
    rows = _sql.rows_if_present(
        target,
        # SQL text: table names the code qualifies; no user value.
        f"SELECT channel, COUNT(*) FROM {model_qualified(target, 'fact_leads')} "  # nosec B608
        "WHERE is_deleted = FALSE GROUP BY channel",
    )
    return None if rows is None else {str(channel): int(n) for channel, n in rows}


def utc_times(values: pd.Series) -> pd.Series:
    """Timestamps as UTC instants: DuckDB returns them in the session's zone, MySQL without a
    zone (UTC by construction of the load)."""
    return pd.to_datetime(values, utc=True)


def where_data_lives(url: str) -> tuple[str, str]:
    """Where the synced data is and how to look at it (the sync's summary)."""
    return backend_for(parse_database_url(url)).describe()


@dataclass(frozen=True)
class ExposedFiles:
    """Files or folders of ours that other users of the machine may read or write."""

    paths: tuple[Path, ...]
    fix: str  # the shell command that makes them private again


@dataclass(frozen=True)
class SetupWarnings:
    unknown_settings: tuple[UnknownSetting, ...] = ()
    exposed: ExposedFiles | None = None

    def __bool__(self) -> bool:
        return bool(self.unknown_settings) or self.exposed is not None


def _private_paths(data_dir: Path, url: str) -> tuple[list[Path], list[Path]]:
    """(roots checked whole, single files): the data folder with everything in it, and a DuckDB
    warehouse kept elsewhere — only its own files, not the folder it shares with others."""
    roots = [data_dir.absolute()]
    singles: list[Path] = []
    try:
        target = parse_database_url(url)
    except KommoAnalyticsError:
        return roots, singles
    backend = backend_for(target)
    if target.serving_path is not None and target.sync_path is not None:
        for path in (target.serving_path, target.sync_path):
            singles += [path, path.with_name(path.name + ".wal")]
        singles.append(backend.lock_path(data_dir).absolute())
    return roots, [p for p in singles if not p.is_relative_to(roots[0])]


def exposed_files(data_dir: Path, url: str) -> ExposedFiles | None:
    """What of the data folder (and a DuckDB warehouse outside it) group or others may read or
    write; None when everything is private. Never raises: a warning must not stop a page."""
    roots, singles = _private_paths(data_dir, url)
    try:
        found = files.exposed([*roots, *singles])
    except OSError:
        return None
    if not found:
        return None
    fix_roots = [r for r in roots if r.exists()] + [p for p in singles if p in found]
    return ExposedFiles(tuple(found), files.chmod_hint(found, fix_roots))


def setup_warnings(data_dir: Path, url: str) -> SetupWarnings:
    """Misspelt settings (in .env or the environment) and files others can read."""
    return SetupWarnings(tuple(unknown_settings()), exposed_files(data_dir, url))
