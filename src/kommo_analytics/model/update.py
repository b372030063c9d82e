"""Updating the model for the entities a sync touched, instead of rebuilding all of it.

A sync's loads record, per changed raw table, the keys of the rows they wrote
(``Warehouse.touched``). From those keys this module works out every model row that can depend
on them, reads only the raw rows those rows are built from (with the whole dictionaries), runs
the same pure build (:func:`build_model`) on that slice and, in **one transaction**, deletes the
affected rows from the four fact tables and inserts the rebuilt ones, refreshing ``model_info``
(which also clears the stale mark the sync's first load wrote).

What a model row depends on, and so what a touched key reaches:

- a lead's row and stays: its raw row, links to contacts, tracking fields, deletion facts, its
  events (stage moves, activities, its creation event) and the outgoing messages on its contacts
  (first response). Touched lead-keyed rows and touched events on a lead name the lead; a touched
  event on a contact names every lead linked to that contact now (a link removed touched the
  lead's ``lead_contacts`` rows, so that lead is named through them);
- a task's row: its raw row, its ``task_completed`` events and whether its lead is deleted;
- an activity's row: its event, the call note it names and whether its lead is deleted.

So the affected leads are those named above, plus the leads of touched tasks, of tasks whose
completion events were touched, and of leads and contacts whose call notes were touched. Every
task of an affected lead and every activity event of an affected lead or of the contacts read
for first responses is rebuilt too (a superset: rows rebuilt unchanged cost a little work).
A call note is looked up on the entity it sits on: the call events naming it are that entity's.

``None`` (a full rebuild is needed) when the update cannot be exact or would not be faster: see
:func:`update_model`. docs/architecture.md, "The analytics model", has the why.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from kommo_analytics.errors import QueryError, WarehouseError, first_line
from kommo_analytics.model import incremental
from kommo_analytics.model.build import (
    ACTIVITY_TYPES,
    CREATION_EVENT,
    MODEL_EVENT_TYPES,
    RawFrames,
    build_model,
)
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import MODEL_TABLES, MODEL_VERSION, model_qualified, model_schema
from kommo_analytics.model.store import insert_rows, prepare_writer, with_items
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import Kind, Target

log = logging.getLogger(__name__)

# Raw tables every model row may depend on (stage order, names, the timezone): a change to one
# rebuilds the whole model.
DICTIONARIES = frozenset(
    {"account", "users", "pipelines", "statuses", "loss_reasons", "task_types"}
)
# Raw tables whose rows are keyed by lead (the merge key of the link tables).
LEAD_KEYED = ("leads", "lead_contacts", "lead_tracking", "lead_deletions")
# Above this share of the account's leads a rebuild is about as fast as an update (it reads
# every table once, an update reads its slices through long key lists).
MAX_SHARE = 0.2
# Ids per IN list: a statement of a few tens of kilobytes on every backend.
CHUNK = 5000
# The event types that reach a model row (``lead_added`` only for leads without a creation time).
_READ_TYPES = (*MODEL_EVENT_TYPES, CREATION_EVENT)
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_FACTS = ("fact_leads", "fact_stage_stays", "fact_tasks", "fact_activities")
_CALL_TYPES = tuple(t for t, (medium, _) in ACTIVITY_TYPES.items() if medium == "call")


class NotUpdatable(Exception):
    """The model cannot be updated exactly for these keys: rebuild it (the reason says why)."""


@dataclass
class Affected:
    """What the update rebuilds: lead ids, the contacts whose events are read with them, task
    ids, and events read by id (touched ones; the rest are found through leads and contacts)."""

    leads: set[int] = field(default_factory=set)
    contacts: set[int] = field(default_factory=set)
    tasks: set[int] = field(default_factory=set)
    events: set[str] = field(default_factory=set)


# -- SQL helpers ------------------------------------------------------------------------------------


def _ints(keys: Iterable[tuple[Any, ...]], position: int = 0) -> set[int]:
    return {int(key[position]) for key in keys if key[position] is not None}


def _literals(values: Collection[int | str]) -> list[str]:
    """Values as SQL literals: integers as digits, ids as quoted identifier-like text; an id
    that is neither is not written into SQL (NotUpdatable)."""
    out = []
    for value in sorted(values, key=repr):
        if isinstance(value, int) and not isinstance(value, bool):
            out.append(str(int(value)))
        elif isinstance(value, str) and _SAFE_ID.fullmatch(value):
            out.append(f"'{value}'")
        else:
            raise NotUpdatable(f"a key this code does not write into SQL: {value!r}")
    return out


@dataclass(frozen=True)
class _In:
    """``extra`` and ``column IN (values)``: one condition of a slice's read."""

    column: str
    values: tuple[int | str, ...]
    extra: str = ""

    def sql(self) -> str:
        return f"({self.extra}{self.column} IN ({', '.join(_literals(self.values))}))"


def _conditions(column: str, values: Collection[int | str], extra: str = "") -> list[_In]:
    """``column IN (...)`` conditions of at most CHUNK values each (and ``extra``)."""
    ordered = tuple(sorted(values, key=repr))
    return [
        _In(column, ordered[start : start + CHUNK], extra)
        for start in range(0, len(ordered), CHUNK)
    ]


# DuckDB compares a column with a long literal list row by row, and with a few such lists
# joined by OR it scans slowly (seconds for a few thousand ids on a medium account); a
# registered frame of the ids makes each condition a hash semi-join instead.
_KEYS_VIEW = "_model_update_keys"


def _duckdb_in(con: Any, condition: _In) -> str:
    """The condition as a semi-join with its values registered under _KEYS_VIEW."""
    _literals(condition.values)  # the same ids as elsewhere, checked the same way
    con.register(_KEYS_VIEW, pd.DataFrame({"v": list(condition.values)}))
    # SQL text: a key column's quoted name and a registered view; the ids are registered values.
    return f"({condition.extra}{condition.column} IN (SELECT v FROM {_KEYS_VIEW}))"  # nosec B608


def _merged(conditions: list[_In]) -> list[_In]:
    """Chunks of one condition together again (DuckDB takes any number of registered ids)."""
    groups: dict[tuple[str, str], list[int | str]] = {}
    for condition in conditions:
        groups.setdefault((condition.column, condition.extra), []).extend(condition.values)
    return [_In(column, tuple(values), extra) for (column, extra), values in groups.items()]


def _columns(table: str) -> list[str]:
    return [c for c in TABLES[table].column_names if c != "raw"]


def _select(
    con: Any,
    target: Target,
    table: str,
    conditions: list[_In],
    *,
    columns: list[str] | None = None,
    where: str = "",
) -> pd.DataFrame:
    """Rows of a raw table matching any of ``conditions`` (and ``where``), once each."""
    backend = backend_for(target)
    columns = columns or _columns(table)
    frames: list[pd.DataFrame] = []
    select = f"SELECT {', '.join(columns)} FROM {target.qualified(table)}"  # nosec B608
    if target.kind is Kind.DUCKDB:
        for condition in _merged(conditions):
            # SQL text: a raw table's declared columns and name, fixed filters, and a
            # semi-join on registered ids; no other value.
            sql = f"{select} WHERE {where}{_duckdb_in(con, condition)}"  # nosec B608
            frames.append(backend.fetch_frame(con, sql, columns))
            con.unregister(_KEYS_VIEW)
    else:
        # A few conditions per statement: each statement scans the table (or an index) once.
        for start in range(0, len(conditions), 4):
            filters = " OR ".join(c.sql() for c in conditions[start : start + 4])
            # SQL text: as above, with conditions made of integers and identifier-like ids
            # (_literals); no other value.
            sql = f"{select} WHERE {where}({filters})"  # nosec B608
            frames.append(backend.fetch_frame(con, sql, columns))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if len(frames) == 1:
        return frames[0]
    key = list(TABLES[table].primary_key)
    key = key if set(key) <= set(columns) else columns
    rows: pd.DataFrame = pd.concat(frames, ignore_index=True).drop_duplicates(key)
    return rows.reset_index(drop=True)


def _ids(values: pd.Series) -> set[int]:
    return {int(v) for v in pd.to_numeric(values, errors="coerce").dropna()}


def _types(types: Iterable[str]) -> str:
    return ", ".join(f"'{t}'" for t in types)


# -- what a sync's keys reach -------------------------------------------------------------------


def affected(
    con: Any, target: Target, touched: Mapping[str, Collection[tuple[Any, ...]]]
) -> Affected:
    """The leads, contacts, tasks and events to rebuild for ``touched`` (see the module's
    docstring), read from the raw tables as they are now."""
    out = Affected()
    for table in LEAD_KEYED:
        out.leads |= _ints(touched.get(table, ()))
    touched_tasks = _ints(touched.get("tasks", ()))
    note_contacts: set[int] = set()

    event_ids = {str(key[0]) for key in touched.get("events", ()) if key[0] is not None}
    if event_ids:
        # Only the events the model reads reach a row; the others (tags, field edits) do not.
        events = _select(
            con,
            target,
            "events",
            _conditions("id", event_ids),
            columns=["id", "type", "entity_type", "entity_id"],
            where=f"type IN ({_types(_READ_TYPES)}) AND ",
        )
        on = events["entity_type"]
        out.leads |= _ids(events.loc[on == "lead", "entity_id"])
        on_contacts = _ids(events.loc[on == "contact", "entity_id"])
        note_contacts |= on_contacts  # their activities are rebuilt with the contacts read
        done = events["type"] == "task_completed"
        touched_tasks |= _ids(events.loc[done & (on == "task"), "entity_id"])
        # Read by id too: an activity on another kind of entity is reached by nothing else.
        out.events |= set(events["id"].astype(str))
        if on_contacts:
            links = _select(con, target, "lead_contacts", _conditions("contact_id", on_contacts))
            out.leads |= _ids(links["lead_id"])

    notes = touched.get("call_notes", ())
    if notes:
        found = _select(
            con,
            target,
            "call_notes",
            _conditions("id", _ints(notes, position=1)),
            columns=["entity_type", "id", "entity_id"],
        )
        wanted = {(str(kind), int(i)) for kind, i in notes if kind is not None and i is not None}
        pairs = zip(found["entity_type"].astype(str), _as_ints(found["id"]), strict=True)
        found = found[[pair in wanted for pair in pairs]]
        out.leads |= _ids(found.loc[found["entity_type"] == "leads", "entity_id"])
        note_contacts |= _ids(found.loc[found["entity_type"] == "contacts", "entity_id"])

    if touched_tasks:
        tasks = _select(
            con,
            target,
            "tasks",
            _conditions("id", touched_tasks),
            columns=["id", "entity_type", "entity_id"],
        )
        out.leads |= _ids(tasks.loc[tasks["entity_type"] == "leads", "entity_id"])
    out.tasks = touched_tasks
    out.contacts = note_contacts
    return out


def _as_ints(values: pd.Series) -> list[int | None]:
    return [None if pd.isna(v) else int(v) for v in values]


# -- reading the slice ------------------------------------------------------------------------------


def read_slice(con: Any, target: Target, wanted: Affected) -> tuple[RawFrames, Affected]:
    """The raw rows the affected model rows are built from, with every dictionary row; and the
    sets completed with what the rows name (tasks and contacts of the leads)."""
    backend = backend_for(target)
    present = backend.existing_tables(target.dataset, con)

    def whole(table: str) -> pd.DataFrame:
        columns = _columns(table)
        if table not in present:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        # SQL text: a raw table's declared columns and name; no user value.
        sql = f"SELECT {', '.join(columns)} FROM {target.qualified(table)}"  # nosec B608
        frame: pd.DataFrame = backend.fetch_frame(con, sql, columns)
        return frame

    def part(table: str, conditions: list[_In], where: str = "") -> pd.DataFrame:
        if table not in present or not conditions:
            columns = _columns(table)
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return _select(con, target, table, conditions, where=where)

    leads = sorted(wanted.leads)
    lead_rows = part("leads", _conditions("id", leads))
    links = part("lead_contacts", _conditions("lead_id", leads))
    tracking = part("lead_tracking", _conditions("lead_id", leads))
    tasks = part(
        "tasks",
        _conditions("id", wanted.tasks)
        + _conditions("entity_id", leads, extra="entity_type = 'leads' AND "),
    )
    contacts = wanted.contacts | _ids(links["contact_id"])
    task_ids = _ids(tasks["id"])
    model_types = f"type IN ({_types(MODEL_EVENT_TYPES)}) AND "
    events = part(
        "events",
        _conditions("entity_id", leads, extra="entity_type = 'lead' AND ")
        + _conditions("entity_id", contacts, extra="entity_type = 'contact' AND ")
        + _conditions("entity_id", task_ids, extra="entity_type = 'task' AND ")
        + _conditions("id", wanted.events),
        where=model_types,
    )
    # A trashed lead's creation time is its creation event's (as the full read fetches it).
    undated = (
        lead_rows["is_deleted"].astype("boolean").fillna(False) & lead_rows["created_at"].isna()
    )
    creations = part(
        "events",
        _conditions("entity_id", _ids(lead_rows.loc[undated, "id"])),
        where=f"type = '{CREATION_EVENT}' AND entity_type = 'lead' AND ",
    )
    if len(creations):
        events = pd.concat([events, creations], ignore_index=True) if len(events) else creations
    notes = _call_notes(events, part)
    raw = RawFrames(
        account=whole("account"),
        users=whole("users"),
        pipelines=whole("pipelines"),
        statuses=whole("statuses"),
        loss_reasons=whole("loss_reasons"),
        task_types=whole("task_types"),
        leads=lead_rows,
        lead_contacts=links,
        events=events,
        tasks=tasks,
        call_notes=notes,
        lead_tracking=tracking,
    )
    return raw, Affected(leads=set(leads), contacts=contacts, tasks=task_ids, events=wanted.events)


_NOTE_ID = re.compile(r'"id"\s*:\s*(\d+)')


def _call_notes(events: pd.DataFrame, part: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """The call notes the activity events name (the build joins them on type and number)."""
    calls = events.loc[events["type"].isin(_CALL_TYPES), "value_after"]
    numbers = calls.dropna().astype(str).str.extract(_NOTE_ID, expand=False)
    return part("call_notes", _conditions("id", _ids(numbers)))


# -- the update -------------------------------------------------------------------------------------


def _count(con: Any, target: Target, table: str) -> int:
    backend = backend_for(target)
    if table not in backend.existing_tables(target.dataset, con):
        return 0
    cur = backend.cursor(con)
    # SQL text: a raw table's name; no user value.
    cur.execute(f"SELECT COUNT(*) FROM {target.qualified(table)}")  # nosec B608
    ((rows,),) = cur.fetchall()  # all of it: DuckDB keeps a result open until then
    return int(rows)


def check_updatable(
    con: Any,
    target: Target,
    changed: Collection[str],
    rules: ChannelRules,
    timezone_override: str | None,
) -> None:
    """Raise NotUpdatable when only a rebuild gives the right model."""
    dictionaries = sorted(DICTIONARIES & set(changed))
    if dictionaries:
        raise NotUpdatable(f"dictionaries changed: {', '.join(dictionaries)}")
    backend = backend_for(target)
    schema = model_schema(target)
    for name in ("model_info", *_FACTS):
        if backend.columns(con, schema, name) != list(MODEL_TABLES[name].column_names):
            raise NotUpdatable(f"no model table {name} of this version")
    info = incremental.stored_items(con, target) or {}
    if info.get("model_version") != str(MODEL_VERSION):
        raise NotUpdatable("the model was built by another version")
    items = incremental.build_items(rules, timezone_override)
    if any(info.get(item) != value for item, value in items.items()):
        raise NotUpdatable("the channel rules or the timezone setting changed")


def update_model(
    settings: Settings,
    target: Target,
    changed: Collection[str],
    touched: Mapping[str, Collection[tuple[Any, ...]]],
    *,
    now: Callable[[], float] = time.time,
    on_step: Callable[[], None] = lambda: None,
    max_share: float = MAX_SHARE,
) -> str | None:
    """Update the model for the touched keys; a one-line summary for the progress output, or
    None when the model must be rebuilt instead (nothing written then).

    The caller holds the writer lock, has checked that the model was current before the run's
    first changing load (the keys of an earlier, killed run are lost), and rebuilds on None.
    Rebuilds are needed when a dictionary changed, the rules, timezone setting or model version
    differ from the model's, a model table is missing, or the affected leads are more than
    ``max_share`` of all leads.
    """
    rules = ChannelRules.load(settings.channel_rules_file)
    prepare_writer(target)
    try:
        with reader.connect(target, write=True) as con:
            try:
                check_updatable(con, target, changed, rules, settings.account_timezone)
                wanted = affected(con, target, touched)
                total = _count(con, target, "leads")
                if len(wanted.leads) > max_share * max(total, 1):
                    raise NotUpdatable(
                        f"{len(wanted.leads):,} of {total:,} leads touched: a rebuild is as fast"
                    )
                raw, wanted = read_slice(con, target, wanted)
            except NotUpdatable as why:
                log.info("the model is rebuilt instead of updated: %s", why)
                return None
            on_step()
            frames = build_model(
                raw,
                rules,
                built_at=datetime.fromtimestamp(now(), UTC),
                timezone_override=settings.account_timezone,
            )
            info = with_items(
                frames["model_info"], incremental.build_items(rules, settings.account_timezone)
            )
            on_step()
            write_update(con, target, frames, info, wanted)
            on_step()
            on_step()  # no views to create: the tables stay
    except QueryError as exc:
        raise _update_failed(target, exc.reason) from exc
    except WarehouseError:
        raise
    except Exception as exc:
        raise _update_failed(target, first_line(exc)) from exc
    return (
        f"analytics model updated: {len(frames['fact_leads']):,} leads, "
        f"{len(frames['fact_stage_stays']):,} stage stays, {len(frames['fact_tasks']):,} tasks, "
        f"{len(frames['fact_activities']):,} calls and messages"
    )


def write_update(
    con: Any,
    target: Target,
    frames: Mapping[str, pd.DataFrame],
    info: pd.DataFrame,
    wanted: Affected,
) -> None:
    """Replace the affected fact rows and ``model_info`` in one transaction."""
    backend = backend_for(target)
    # Rows to delete: every affected lead's, and every task and activity the slice held (the
    # build gives each exactly one row).
    keys: dict[str, tuple[str, Collection[int | str]]] = {
        "fact_leads": ("lead_id", wanted.leads),
        "fact_stage_stays": ("lead_id", wanted.leads),
        "fact_tasks": ("task_id", _ids(frames["fact_tasks"]["task_id"])),
        "fact_activities": ("event_id", set(frames["fact_activities"]["event_id"].astype(str))),
    }
    with backend.transaction(con) as cur:
        for name, (column, values) in keys.items():
            table = model_qualified(target, name)
            # DuckDB's publish then copies these rows to the served file, not the whole table
            # (docs/architecture.md, publishing).
            backend.journal_keys(
                con, f"{model_schema(target)}.{name}", (column,), [(v,) for v in values]
            )
            conditions = _conditions(backend.quote(column), values)
            for condition in conditions:
                duckdb = target.kind is Kind.DUCKDB
                text = _duckdb_in(con, condition) if duckdb else condition.sql()
                # SQL text: a model table's name and a condition of integers and
                # identifier-like ids (_literals), or of registered ids; no other value.
                cur.execute(f"DELETE FROM {table} WHERE {text}")  # nosec B608
                if duckdb:
                    con.unregister(_KEYS_VIEW)
            insert_rows(con, target, MODEL_TABLES[name], frames[name])
        # SQL text: a model table's name; no user value.
        cur.execute(f"DELETE FROM {model_qualified(target, 'model_info')}")  # nosec B608
        insert_rows(con, target, MODEL_TABLES["model_info"], info)


def _update_failed(target: Target, reason: str) -> WarehouseError:
    return WarehouseError(
        f"updating the analytics model in {target.display} failed: {reason}",
        hint="the previous model is unchanged and marked out of date; the next sync rebuilds "
        "it, or run `kommo-analytics model`",
    )
