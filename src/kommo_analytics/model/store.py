"""Reading the raw tables for the model, and writing the model so no reader sees half of it.

A rebuild builds and writes one fact table at a time (:func:`model_frames`), each from only the
raw rows and columns it needs, and lets go of its inputs and of the written table before the
next: a million leads' raw tables and model are never in memory together. The ids in the events'
JSON texts are read in SQL where the database reads them as the model does (DuckDB), so those
texts never reach Python there.

Every derived table is emptied and refilled inside **one transaction** (``DELETE`` + bulk insert;
on PostgreSQL and MariaDB/InnoDB readers keep seeing the previous model until the commit, and are
never blocked by it). Table definitions are created beforehand, outside that transaction, because
MySQL commits implicitly on DDL. On DuckDB the writer works on the sync's private file, which is
published to readers afterwards (``Warehouse.publish``), and drops and re-creates each derived
table inside the transaction instead of deleting its rows (DDL is transactional there; the
commit is much cheaper).

The input tables (imported costs and goals) and forecast snapshots are never emptied by a build.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from kommo_analytics.errors import QueryError, WarehouseError, first_line
from kommo_analytics.kommo.entities import TRACKING_COLUMNS
from kommo_analytics.model import compat, incremental
from kommo_analytics.model.build import (
    ACTIVITY_TYPES,
    CREATION_EVENT,
    MODEL_EVENT_TYPES,
    MOVE_IDS,
    NOTE_ID,
    READS,
    RESPONSE_TYPES,
    RawFrames,
    build_activities,
    build_dimensions,
    build_stays,
    build_tasks,
    lead_channels,
    lead_rows,
    model_timezone,
    status_events,
    with_history,
)
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import (
    MODEL_TABLES,
    MODEL_VERSION,
    M,
    ModelTable,
    create_sql,
    index_sql,
    model_qualified,
    model_schema,
)
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import Kind, Target

# The raw columns the model reads; ``raw`` JSON columns stay in the warehouse.
_RAW_TABLES: dict[str, str] = {
    "account": "account",
    "users": "users",
    "pipelines": "pipelines",
    "statuses": "statuses",
    "loss_reasons": "loss_reasons",
    "task_types": "task_types",
    "leads": "leads",
    "lead_contacts": "lead_contacts",
    "lead_tracking": "lead_tracking",
    "events": "events",
    "tasks": "tasks",
    "call_notes": "call_notes",
}


def _columns(name: str) -> list[str]:
    return [c for c in TABLES[name].column_names if c != "raw"]


def _fetch(con: Any, target: Target, sql: str, columns: list[str]) -> pd.DataFrame:
    frame: pd.DataFrame = backend_for(target).fetch_frame(con, sql, columns)
    return frame


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def read_raw(con: Any, target: Target) -> RawFrames:
    """The raw tables the model needs (tables a young warehouse lacks read as empty)."""
    present = backend_for(target).existing_tables(target.dataset, con)
    frames: dict[str, pd.DataFrame] = {}
    for field_name, table in _RAW_TABLES.items():
        columns = _columns(table)
        if table not in present:
            frames[field_name] = _empty(columns)
            continue
        where = ""
        if table == "events":
            types = ", ".join(f"'{t}'" for t in MODEL_EVENT_TYPES)
            where = f" WHERE type IN ({types})"
        # SQL text: the raw table's declared columns and the model's event types; no user value.
        sql = f"SELECT {', '.join(columns)} FROM {target.qualified(table)}{where}"  # nosec B608
        frames[field_name] = _fetch(con, target, sql, columns)
    columns = _columns("events")
    creations = _empty(columns)
    if {"leads", "events"} <= present:
        undated = (
            # SQL text: table names the code qualifies; no user value.
            f"SELECT id FROM {target.qualified('leads')} WHERE is_deleted AND created_at IS NULL"  # nosec B608
        )
        creations = _fetch(
            con,
            target,
            # SQL text: declared columns, table names and the creation event type; no user value.
            f"SELECT {', '.join(columns)} FROM {target.qualified('events')} "  # nosec B608
            f"WHERE type = '{CREATION_EVENT}' AND entity_type = 'lead' "
            f"AND entity_id IN ({undated})",
            columns,
        )
    if len(creations):
        events = frames["events"]
        frames["events"] = (
            pd.concat([events, creations], ignore_index=True) if len(events) else creations
        )
    return RawFrames(
        account=frames["account"],
        users=frames["users"],
        pipelines=frames["pipelines"],
        statuses=frames["statuses"],
        loss_reasons=frames["loss_reasons"],
        task_types=frames["task_types"],
        leads=frames["leads"],
        lead_contacts=frames["lead_contacts"],
        events=frames["events"],
        tasks=frames["tasks"],
        call_notes=frames["call_notes"],
        lead_tracking=frames["lead_tracking"],
    )


# -- reading and building one table at a time -------------------------------------------------------

_DICTIONARIES = ("account", "users", "pipelines", "statuses", "loss_reasons", "task_types")


class _Raw:
    """Reads of the raw tables on one connection: whole tables' model columns, or some columns
    of some rows (a table a young warehouse lacks reads as empty)."""

    def __init__(self, con: Any, target: Target) -> None:
        self.con = con
        self.target = target
        self.backend = backend_for(target)
        self.present = self.backend.existing_tables(target.dataset, con)

    def table(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        *,
        where: str = "",
        computed: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """``columns`` (default: every model column; only the table's declared ones) and
        ``computed`` (name → SQL expression)."""
        declared = _columns(table)
        names = [c for c in columns if c in declared] if columns is not None else declared
        extra = dict(computed or {})
        if table not in self.present:
            return _empty([*names, *extra])
        select = [*names, *(f"{sql} AS {self.backend.quote(n)}" for n, sql in extra.items())]
        # SQL text: declared columns, the model's expressions and conditions; no user value.
        sql = f"SELECT {', '.join(select)} FROM {self.target.qualified(table)}"  # nosec B608
        return _fetch(
            self.con, self.target, sql + (f" WHERE {where}" if where else ""), [*names, *extra]
        )

    def events(
        self,
        types: Iterable[str],
        columns: Sequence[str],
        ids: Mapping[str, tuple[str, re.Pattern[str]]],
    ) -> pd.DataFrame:
        """Events of ``types`` with ``columns`` and the JSON ids ``ids`` (name → (text column,
        pattern)): read in SQL where the database can, else the texts, for the model to read."""
        exprs = {n: self.backend.regexp_int_sql(c, p.pattern) for n, (c, p) in ids.items()}
        computed = {n: e for n, e in exprs.items() if e is not None}
        texts = sorted({c for n, (c, _) in ids.items() if n not in computed})
        kinds = ", ".join(f"'{t}'" for t in types)
        return self.table(
            "events", [*columns, *texts], where=f"type IN ({kinds})", computed=computed
        )

    def undated_creations(self, columns: Sequence[str]) -> pd.DataFrame:
        """The creation events of leads without a creation time of their own (known from the
        trash only), the one thing the model reads ``lead_added`` events for."""
        if not {"leads", "events"} <= self.present:
            return _empty(list(columns))
        undated = (
            # SQL text: table names the code qualifies; no user value.
            f"SELECT id FROM {self.target.qualified('leads')} WHERE is_deleted AND created_at IS NULL"  # nosec B608
        )
        return self.table(
            "events",
            columns,
            where=f"type = '{CREATION_EVENT}' AND entity_type = 'lead' AND entity_id IN ({undated})",
        )


def _frames(**frames: pd.DataFrame) -> RawFrames:
    """A RawFrames holding ``frames``; every other table empty (a step reads only its own)."""
    fields = (*_DICTIONARIES, "leads", "lead_contacts", "events", "tasks", "call_notes")
    given: dict[str, Any] = {f: _empty(_columns(_RAW_TABLES[f])) for f in fields}
    given.update(frames)
    return RawFrames(**given)


# Leads whose stage stays and history facts are built at a time: their intermediate frames grow
# with the leads in a part, not with the account (a million leads in one part: ~1.5 GB more).
LEADS_PER_PART = 100_000


def model_frames(
    con: Any,
    target: Target,
    rules: ChannelRules,
    *,
    built_at: datetime,
    timezone_override: str | None = None,
    leads_per_part: int = LEADS_PER_PART,
    on_step: Callable[[], None] = lambda: None,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``build_model``'s tables built from the raw tables on ``con``, a table — or a part of
    ``fact_leads`` and of ``fact_stage_stays``, ``leads_per_part`` leads' rows — at a time:
    together, the rows ``build_model(read_raw(con, target), …)`` returns, without holding the raw
    tables or the model whole. A caller drops each frame before asking for the next, and writes
    the parts of a table one after the other. ``on_step`` is called once the leads and stays,
    the tasks, then the activities have been handed over (``MODEL_BUILD_STEPS``' first three)."""
    raw = _Raw(con, target)
    dictionaries = {name: raw.table(name) for name in _DICTIONARIES}
    tables = build_dimensions(
        _frames(**dictionaries), rules, built_at=built_at, timezone_override=timezone_override
    )
    timezone = model_timezone(dictionaries["account"], timezone_override)
    stages, task_types = tables["dim_stages"], tables["dim_task_types"]
    yield from tables.items()
    del tables

    # The leads' own columns first; their inputs are let go of when lead_rows returns.
    contacts = ("type", "entity_type", "entity_id", "created_at", "created_by")
    leads = lead_rows(
        _frames(
            loss_reasons=dictionaries["loss_reasons"],
            leads=raw.table("leads", READS["leads"]),
            lead_contacts=raw.table("lead_contacts", READS["lead_contacts"]),
            lead_tracking=raw.table("lead_tracking", READS["lead_tracking"]),
            events=pd.concat(
                [raw.events(RESPONSE_TYPES, contacts, {}), raw.undated_creations(contacts)],
                ignore_index=True,
            ),
        ),
        rules,
        timezone,
    )
    moves = status_events(
        raw.events(
            ["lead_status_changed"],
            ("type", "entity_type", "entity_id", "id", "created_at", "created_by"),
            MOVE_IDS,
        )
    ).drop(columns="event_id")  # it only ordered the moves
    # What the tasks and activities need of the leads: which are deleted.
    deleted = []
    # A lead's stays and history facts are its own: built a part of the leads at a time.
    for start in range(0, max(len(leads), 1), leads_per_part):
        part = leads.iloc[start : start + leads_per_part]
        stays = build_stays(part, moves, timezone)
        facts = with_history(part, stays, stages)
        del part
        deleted.append(facts.loc[facts["is_deleted"].astype(bool), ["lead_id", "is_deleted"]])
        yield "fact_leads", facts
        del facts
        yield "fact_stage_stays", stays
        del stays
    del leads, moves
    on_step()
    gone = pd.concat(deleted, ignore_index=True)
    del deleted

    completions = ("type", "entity_type", "entity_id", "created_at")
    yield (
        "fact_tasks",
        build_tasks(
            _frames(
                tasks=raw.table("tasks", READS["tasks"]),
                events=raw.events(["task_completed"], completions, {}),
            ),
            gone,
            task_types,
            timezone,
        ),
    )
    on_step()
    activity = ("id", "type", "created_by", "created_at", "entity_type", "entity_id")
    yield (
        "fact_activities",
        build_activities(
            _frames(
                events=raw.events(ACTIVITY_TYPES, activity, dict([NOTE_ID])),
                call_notes=raw.table("call_notes", READS["call_notes"]),
            ),
            gone,
            timezone,
        ),
    )
    on_step()


# -- writing ----------------------------------------------------------------------------------------


def _python_rows(frame: pd.DataFrame, table: ModelTable) -> list[tuple[Any, ...]]:
    """Rows as plain Python values (None for every kind of missing) for DB-API drivers."""
    columns = []
    for column in table.columns:
        series = frame[column.name]
        if column.type is M.TIMESTAMP:
            values = [None if pd.isna(v) else v.to_pydatetime() for v in series]
        elif column.type is M.DATE:
            values = [None if pd.isna(v) else pd.Timestamp(v).date() for v in series]
        elif column.type is M.BIGINT:
            values = [None if pd.isna(v) else int(v) for v in series]
        elif column.type is M.DOUBLE:
            values = [None if pd.isna(v) else float(v) for v in series]
        elif column.type is M.MONEY:
            # Through str: 0.1 stays 0.1, not the binary fraction next to it.
            values = [None if pd.isna(v) else Decimal(str(v)) for v in series]
        elif column.type is M.BOOL:
            values = [None if pd.isna(v) else bool(v) for v in series]
        else:
            values = [
                None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                for v in series
            ]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []


def _existing_columns(con: Any, target: Target, table: str) -> list[str] | None:
    return backend_for(target).columns(con, model_schema(target), table)


def ensure_tables(con: Any, target: Target, tables: Iterable[ModelTable]) -> None:
    """Create the model's schema and tables; re-create derived tables whose columns changed."""
    backend = backend_for(target)
    cur = backend.cursor(con)
    create_schema = backend.create_schema_sql(model_schema(target))
    if create_schema is not None:
        cur.execute(create_schema)
    # A model built by another version may differ in keys or meaning, not only in columns.
    stale = _built_version(con, target) not in (None, MODEL_VERSION)
    for table in tables:
        existing = _existing_columns(con, target, table.name)
        if existing is not None and table.derived and stale:
            _drop(cur, target, table)
            existing = None
        if existing is not None and existing != list(table.column_names):
            if not table.derived and not _is_empty(con, target, table):
                raise WarehouseError(
                    f"the table {table.name} has columns this version does not know",
                    hint="it holds data you imported; back it up, then drop it and import again",
                )
            _drop(cur, target, table)
            existing = None
        if existing is None:
            cur.execute(create_sql(target, table))
        for statement in index_sql(target, table):
            cur.execute(statement)
    backend.commit_ddl(con)
    for table in tables:
        if not table.derived:
            _store_money_as_decimal(con, target, table)


_MONEY_LIMIT = 1e16  # DECIMAL(18, 2) holds 16 integer digits


def _store_money_as_decimal(con: Any, target: Target, table: ModelTable) -> None:
    """Input tables created when money was DOUBLE keep their rows and get DECIMAL columns."""
    backend = backend_for(target)
    schema = model_schema(target)
    for column in table.columns:
        if column.type is not M.MONEY:
            continue
        if backend.column_type(con, schema, table.name, column.name).startswith(
            ("DECIMAL", "NUMERIC")
        ):
            continue
        name = model_qualified(target, table.name)
        cur = backend.cursor(con)
        # SQL text: a declared money column and its model table; no user value.
        cur.execute(f"SELECT MAX(ABS({backend.quote(column.name)})) FROM {name}")  # nosec B608
        (largest,) = cur.fetchone()
        if largest is not None and float(largest) >= _MONEY_LIMIT:
            # Imported before amounts were checked: converting would fail (or, on a lax MySQL,
            # clip the value). The column stays DOUBLE, which still reads and writes.
            continue
        statement = backend.alter_type_sql(name, column.name, backend.type_name(M.MONEY))
        try:
            backend.cursor(con).execute(statement)
            backend.commit_ddl(con)
        except WarehouseError:
            backend.rollback(con)  # the column stays as it was


def _is_empty(con: Any, target: Target, table: ModelTable) -> bool:
    # An input table without rows has nothing to lose: it is re-created with this version's
    # columns (forecast_snapshots had other columns, and no rows, before snapshots were stored).
    cur = backend_for(target).cursor(con)
    # SQL text: table names the code qualifies; no user value.
    cur.execute(f"SELECT COUNT(*) FROM {model_qualified(target, table.name)}")  # nosec B608
    (rows,) = cur.fetchone()
    return int(rows) == 0


def _drop(cur: Any, target: Target, table: ModelTable) -> None:
    cur.execute(backend_for(target).drop_table_sql(model_qualified(target, table.name)))


def _built_version(con: Any, target: Target) -> int | None:
    if _existing_columns(con, target, "model_info") is None:
        return None
    cur = backend_for(target).cursor(con)
    cur.execute(
        # SQL text: table names the code qualifies; no user value.
        f"SELECT value FROM {model_qualified(target, 'model_info')} WHERE item = 'model_version'"  # nosec B608
    )
    row = cur.fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else None


def insert_rows(con: Any, target: Target, table: ModelTable, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    backend = backend_for(target)
    name = model_qualified(target, table.name)
    # Copy-on-write: the selection shares the build's columns until one is replaced below.
    plain = frame[list(table.column_names)]
    for column in table.columns:
        if column.type is M.MONEY:
            # Kept rows read back as Decimal, new ones arrive as float: one dtype for the frame.
            plain[column.name] = pd.to_numeric(plain[column.name], errors="coerce")
    if backend.insert_frame(con, name, plain):
        return
    backend.insert_rows(con, name, list(table.column_names), _python_rows(plain, table))


def replace_tables(con: Any, target: Target, frames: Mapping[str, pd.DataFrame]) -> None:
    """Empty and refill the given tables in one transaction."""
    _write(con, target, iter(frames.items()))


def _write(
    con: Any,
    target: Target,
    frames: Iterator[tuple[str, pd.DataFrame]],
    on_table: Callable[[str, pd.DataFrame], None] = lambda name, frame: None,
) -> None:
    """Empty and refill each table ``frames`` yields, in one transaction (a table yielded again
    gets the further rows appended); ``frames`` may read from ``con`` (inside it) between tables.
    ``on_table`` sees each frame once it is written."""
    backend = backend_for(target)
    names: list[str] = []
    # DuckDB drops and creates tables inside a transaction too, and commits a table dropped and
    # refilled in about a third of the time it takes for one whose every row was deleted (a
    # million-lead model: tens of seconds). The compatibility views that read the tables are
    # created again after the build. The servers keep DELETE: their readers share the tables.
    recreate = target.kind is Kind.DUCKDB
    with backend.transaction(con) as cur:
        for name, frame in frames:
            table = MODEL_TABLES[name]
            qualified = model_qualified(target, name)
            if qualified in names:
                pass  # a further part of a table already emptied: appended
            elif recreate and table.derived:
                _drop(cur, target, table)
                cur.execute(create_sql(target, table))
            else:
                # SQL text: a model table's name from MODEL_TABLES; no user value.
                cur.execute(f"DELETE FROM {qualified}")  # nosec B608
            insert_rows(con, target, table, frame)
            if qualified not in names:
                names.append(qualified)
            on_table(name, frame)
            del frame  # not kept while the next table is built
            _return_freed_memory()
        backend.analyze(con, names, committed=False)
    backend.analyze(con, names, committed=True)


def _return_freed_memory() -> None:
    """Give the memory the last table's frames held back to the system. glibc keeps freed blocks
    of the sizes a million-row column takes (under its 32 MB mmap threshold) in its heap, so
    without this the next table's peak comes on top of the last one's (Linux only; elsewhere
    nothing happens)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def prepare_writer(target: Target) -> None:
    """The writer's storage, ready before it connects (DuckDB: the private file, copied from the
    served one if it went missing)."""
    backend_for(target).prepare_writer()


# What a rebuild does, in order; `on_step` is called after each, so a caller can show progress.
MODEL_BUILD_STEPS = (
    "build and write the leads and stage stays",
    "build and write the tasks",
    "build and write the calls and messages",
    "commit the model",
    "create views",
)


def build_and_store(
    target: Target,
    rules: ChannelRules,
    *,
    timezone_override: str | None = None,
    now: Callable[[], float] = time.time,
    on_step: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Rebuild the model from the raw tables; returns rows per derived table.

    The caller holds the sync lock (and, on DuckDB, publishes afterwards).
    """
    prepare_writer(target)
    counts: dict[str, int] = {}

    def written(name: str, frame: pd.DataFrame) -> None:
        counts[name] = counts.get(name, 0) + len(frame)

    def frames(con: Any) -> Iterator[tuple[str, pd.DataFrame]]:
        built = model_frames(
            con,
            target,
            rules,
            built_at=datetime.fromtimestamp(now(), UTC),
            timezone_override=timezone_override,
            on_step=on_step,
        )
        for name, frame in built:
            if name == "model_info":
                # What the model was built with, for a later sync to tell whether it is
                # current; refilling model_info also clears the mark that the raw tables
                # changed since.
                frame = with_items(frame, incremental.build_items(rules, timezone_override))
            yield name, frame
            del frame

    try:
        with reader.connect(target, write=True) as con:
            ensure_tables(con, target, MODEL_TABLES.values())
            # The tables are read while the model is written: one transaction, so readers of a
            # server database keep seeing the previous model until the commit.
            with backend_for(target).memory_bound(con, _database_megabytes(con, target)):
                _write(con, target, frames(con), written)
            on_step()
            compat.create_views(con, target)
            on_step()
    except QueryError as exc:
        raise _build_failed(target, exc.reason) from exc
    except WarehouseError:
        raise
    except Exception as exc:
        raise _build_failed(target, first_line(exc)) from exc
    return counts


def _database_megabytes(con: Any, target: Target) -> int:
    """What an embedded database may use of the rebuild's memory: what it cannot evict — the
    model's primary-key indexes while they are built, 170 MB at a million leads — with room to
    spare, and nothing more (measured in docs/benchmarks.md)."""
    if "leads" not in backend_for(target).existing_tables(target.dataset, con):
        return 512
    cur = backend_for(target).cursor(con)
    # SQL text: a raw table's name the code qualifies; no user value.
    cur.execute(f"SELECT COUNT(*) FROM {target.qualified('leads')}")  # nosec B608
    (leads,) = cur.fetchone()
    return 512 + 256 * int(leads) // 1_000_000


def with_items(info: pd.DataFrame, items: Mapping[str, str]) -> pd.DataFrame:
    """``model_info`` rows with the build items (rules hash, timezone setting) set."""
    rest = info[~info["item"].isin(list(items))]
    more = pd.DataFrame({"item": list(items), "value": list(items.values())})
    return pd.concat([rest, more], ignore_index=True)


def _build_failed(target: Target, reason: str) -> WarehouseError:
    return WarehouseError(
        f"building the analytics model in {target.display} failed: {reason}",
        hint="the previous model is unchanged; fix the cause and run `kommo-analytics model`",
    )


def rebuild(
    settings: Settings,
    target: Target,
    *,
    now: Callable[[], float] = time.time,
    on_step: Callable[[], None] = lambda: None,
) -> str:
    """Rebuild the model with the user's settings; a one-line summary for the progress output."""
    rules = ChannelRules.load(settings.channel_rules_file)
    counts = build_and_store(
        target, rules, timezone_override=settings.account_timezone, now=now, on_step=on_step
    )
    return (
        f"analytics model built: {counts['fact_leads']:,} leads, "
        f"{counts['fact_stage_stays']:,} stage stays, {counts['fact_tasks']:,} tasks, "
        f"{counts['fact_activities']:,} calls and messages"
    )


def channel_preview(target: Target, rules: ChannelRules) -> dict[str, int]:
    """Leads (not deleted) per channel that ``rules`` would give the synced leads, counted as
    the model's channel counts are; read from the served copy, so it needs no lock."""
    columns = ["id", "created_by", "tags", "is_deleted", *TRACKING_COLUMNS.values()]
    with reader.connect(target) as con:
        raw = _Raw(con, target)
        leads = raw.table("leads", columns)
        tracking = raw.table("lead_tracking", ["lead_id", "code", "value"])
    if not len(leads):
        return {}
    live = ~leads["is_deleted"].fillna(False).astype(bool).to_numpy()
    channels = lead_channels(leads, tracking, rules)[live]
    return {str(k): int(n) for k, n in channels.value_counts().items()}


def replace_input_rows(
    target: Target,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    delete_where: str | None,
    delete_params: Sequence[Any] = (),
) -> int:
    """Write imported rows in one transaction: delete what they replace, insert them.

    ``delete_where`` is a SQL condition on the table (``None``: delete nothing), written with
    :func:`reader.placeholder` marks for ``delete_params``.
    """
    spec = MODEL_TABLES[table]
    if spec.derived:
        raise ValueError(f"{table} is rebuilt from the raw tables, not imported")
    prepare_writer(target)
    with reader.connect(target, write=True) as con:
        ensure_tables(con, target, [spec])
        with backend_for(target).transaction(con) as cur:
            if delete_where is not None:
                # SQL text: a model table's name and the callers' fixed predicate; values are parameters.
                sql = f"DELETE FROM {model_qualified(target, table)} WHERE {delete_where}"  # nosec B608
                cur.execute(sql, list(delete_params)) if delete_params else cur.execute(sql)
            frame = pd.DataFrame([dict(r) for r in rows], columns=list(spec.column_names))
            insert_rows(con, target, spec, frame)
    return len(rows)
