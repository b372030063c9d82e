"""What the sync reads, declared as data: one stream per incremental crawl.

A stream names its entity (path, page size, cursor field, filters: ``kommo/entities.py``), how it
crawls, the raw tables its rows go to (``warehouse/tables.py``) and the function turning one
Kommo item into those rows. The engine builds every request from that, so a cursor field or a
filter is changed here or in the entity table and nowhere else; ``tests/sync/test_streams.py``
checks that each mapper fills exactly its tables' columns.

How each stream crawls, and why:

- ``KEYSET`` (leads, trash, contacts, call notes): ``order[updated_at]=asc`` within
  ``[watermark − overlap, T0]`` where T0 is the server's time when the sync started, always asking
  for page 1 *from the newest updated_at seen so far*. A record updated mid-crawl jumps past T0
  and out of the window without shifting anything still ahead of the cursor, so nothing is
  skipped (the drift an offset crawl suffers; ``docs/kommo-api.md`` §9.1). The watermark is the
  cursor.
- ``WINDOWS`` (tasks): Kommo cannot order tasks by ``updated_at``, so the crawl pages through
  bounded ``updated_at`` windows in ascending order, then asks what changed since T0: a window
  that held one of those records may have shifted while it was being read, and is read again.
- ``EVENTS``: events never change and Kommo serves them newest first with no ``order``; a window
  that ended before T0 can gain no rows, so plain pages through closed ``created_at`` windows,
  oldest window first, lose nothing. Several pages are requested at once, and they let the
  crawls that go a page at a time have the limiter first (``sync/paging.py``). Only the types
  something reads are asked for (:data:`EVENT_TYPES`).

The windows of both are sized from the density seen so far (``engine.WindowPlanner``), but always
adjacent and ascending from the start to T0: the arguments above hold whatever their lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.entities import (
    CONTACT_NOTES,
    CONTACTS,
    EVENTS,
    LEAD_NOTES,
    LEADS,
    TASKS,
    Entity,
)
from kommo_analytics.model.build import CREATION_EVENT, MODEL_EVENT_TYPES
from kommo_analytics.sync import records
from kommo_analytics.sync.records import Json
from kommo_analytics.warehouse import tables
from kommo_analytics.warehouse.loader import Row
from kommo_analytics.warehouse.tables import Table


class Crawl(StrEnum):
    KEYSET = "keyset"  # ordered by the cursor field: it must be one of the entity's order fields
    WINDOWS = "windows"  # bounded cursor windows in the API's own order, then a re-check past T0
    EVENTS = "events"  # closed cursor windows of immutable records, several pages at once


# What one Kommo item becomes: rows by raw table name.
Rows = dict[str, list[Row]]


@dataclass(frozen=True)
class Stream:
    name: str  # the watermark's key in sync_state, and what progress and `--entities` call it
    entity: Entity  # path, page size and the cursor field every window filters on
    crawl: Crawl
    tables: tuple[Table, ...]  # every table `to_rows` fills, and nothing else
    to_rows: Callable[[Json], Rows]
    # What the stream asks for in `with=`; None: the entity's `with_options`.
    with_options: tuple[str, ...] | None = None
    filters: Mapping[str, str] = field(default_factory=dict)  # fixed filters on every request
    # Tables whose rows are written only for ids the warehouse has never seen.
    new_ids_only: tuple[Table, ...] = ()
    # False when the items carry only a few fields by design: their NULLs say nothing about a
    # field the API stopped sending (``sync/nulls.py``).
    judges_nulls: bool = True
    # WINDOWS and EVENTS crawls: the first window's length (a guess), then windows sized from
    # the rows per second seen to hold about this many pages each (``engine.WindowPlanner``).
    # Each window ends in a part-full page, so larger windows waste less; smaller ones re-read
    # less when a record shifts (tasks) and commit sooner.
    window_seconds: int = 7 * 86400
    window_pages: int = 8

    def __post_init__(self) -> None:
        # A declaration the API cannot serve fails at import, not in the middle of a sync.
        cursor = self.cursor
        if cursor not in self.entity.filters:
            raise ValueError(f"{self.name}: {self.entity.name} cannot be filtered by {cursor}")
        if self.crawl is Crawl.KEYSET and cursor not in self.entity.order_fields:
            raise ValueError(f"{self.name}: {self.entity.name} cannot be ordered by {cursor}")
        unknown = set(self.with_) - set(self.entity.allowed_with)
        if unknown:
            raise ValueError(f"{self.name}: {self.entity.name} has no with={sorted(unknown)}")
        unfiltered = {filter_field(key) for key in self.filters} - set(self.entity.filters)
        if unfiltered:
            raise ValueError(f"{self.name}: {self.entity.name} has no filter {sorted(unfiltered)}")

    @property
    def cursor(self) -> str:
        """The field the stream's windows and watermark are on."""
        if self.entity.cursor_field is None:
            raise ValueError(f"{self.name}: {self.entity.name} declares no cursor field")
        return self.entity.cursor_field

    @property
    def with_(self) -> tuple[str, ...]:
        return self.entity.with_options if self.with_options is None else self.with_options

    @property
    def params(self) -> dict[str, str]:
        """What every request of the stream carries."""
        with_ = {"with": ",".join(self.with_)} if self.with_ else {}
        return {**with_, **self.filters}

    def span(self, start: int, end: int | None = None) -> dict[str, str]:
        """The request parameters for records whose cursor is in ``[start, end]`` (inclusive;
        no upper bound when ``end`` is None), ascending by the cursor for keyset crawls."""
        params = {**self.params, f"filter[{self.cursor}][from]": str(start)}
        if end is not None:
            params[f"filter[{self.cursor}][to]"] = str(end)
        if self.crawl is Crawl.KEYSET:
            params[f"order[{self.cursor}]"] = "asc"
        return params

    def cursor_value(self, item: Json) -> int | None:
        """The item's cursor value, when it is a number."""
        value = item.get(self.cursor)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        return None


def filter_field(param: str) -> str:
    """The field a filter parameter filters on: `filter[note_type][0]` → `note_type`."""
    return param.removeprefix("filter[").partition("]")[0]


def _leads(item: Json) -> Rows:
    lead, links = records.lead_rows(item)
    return {
        tables.LEADS.name: [lead],
        tables.LEAD_CONTACTS.name: links,
        tables.LEAD_TRACKING.name: records.lead_tracking_rows(item),
    }


def _trash(item: Json) -> Rows:
    lead = records.deleted_lead_row(item)
    fact = records.trash_deletion_fact(lead)
    return {tables.LEADS.name: [lead], tables.LEAD_DELETIONS.name: [fact] if fact else []}


def _events(item: Json) -> Rows:
    event = records.event_row(item)
    fact = records.event_deletion_fact(event)
    return {tables.EVENTS.name: [event], tables.LEAD_DELETIONS.name: [fact] if fact else []}


def _calls(entity_type: str) -> Callable[[Json], Rows]:
    return lambda item: {tables.CALL_NOTES.name: [records.call_note_row(item, entity_type)]}


CALL_NOTE_TYPES = {"filter[note_type][0]": "call_in", "filter[note_type][1]": "call_out"}

# The event types something reads — the model's (stage moves, completed tasks, calls and
# messages) and the deletion facts' — and only those are crawled: a type nobody reads (a change of
# responsible user, a field edit, a note) costs requests and stores rows for nothing. A type the
# product starts to read must be added here; rows of other types stored by older versions stay and
# are ignored.
EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys((*MODEL_EVENT_TYPES, *records.DELETION_EVENTS)))
# The creation event (one per lead, about 15 % of all events) is read only for leads known from
# the trash alone, which have no creation time of their own: the engine asks for those leads' few
# creation events by id after the streams (``SyncEngine._creation_events``), not in the crawl.
CREATION_EVENT_TYPE = CREATION_EVENT

STREAMS: tuple[Stream, ...] = (
    Stream(
        "leads",
        LEADS,
        Crawl.KEYSET,
        (tables.LEADS, tables.LEAD_CONTACTS, tables.LEAD_TRACKING),
        _leads,
    ),
    # Leads in the trash (docs/kommo-api.md §9.2): id and the time they were deleted. Only leads
    # the warehouse has never seen get the listing's minimal row; a known lead keeps its fields
    # and is flagged by the deletion pass.
    Stream(
        "deleted_leads",
        LEADS,
        Crawl.KEYSET,
        (tables.LEADS, tables.LEAD_DELETIONS),
        _trash,
        with_options=("only_deleted",),
        new_ids_only=(tables.LEADS,),
        judges_nulls=False,
    ),
    Stream(
        "contacts",
        CONTACTS,
        Crawl.KEYSET,
        (tables.CONTACTS,),
        lambda item: {tables.CONTACTS.name: [records.contact_row(item)]},
    ),
    # Kommo cannot order tasks by updated_at (not among TASKS.order_fields): windows.
    Stream(
        "tasks",
        TASKS,
        Crawl.WINDOWS,
        (tables.TASKS,),
        lambda item: {tables.TASKS.name: [records.task_row(item)]},
    ),
    Stream(
        "lead_calls",
        LEAD_NOTES,
        Crawl.KEYSET,
        (tables.CALL_NOTES,),
        _calls("leads"),
        filters=CALL_NOTE_TYPES,
    ),
    Stream(
        "contact_calls",
        CONTACT_NOTES,
        Crawl.KEYSET,
        (tables.CALL_NOTES,),
        _calls("contacts"),
        filters=CALL_NOTE_TYPES,
    ),
    # Events window on created_at (EVENTS.cursor_field): they never change.
    Stream(
        "events",
        EVENTS,
        Crawl.EVENTS,
        (tables.EVENTS, tables.LEAD_DELETIONS),
        _events,
        filters={"filter[type]": ",".join(EVENT_TYPES)},
    ),
)

# Every field some stream windows on, for naming a request's window in an error.
CURSOR_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(s.cursor for s in STREAMS))

# The small lists (account, users, pipelines and stages, loss reasons, lead fields), reloaded
# whole at the start of every run: T0 comes from the account's response and every stream's rows
# refer to them, so they are read even when `--entities` does not name them.
DICTIONARIES = "dictionaries"
# Not a stream but shown like one: rebuilding the analytics model at the end of a run.
MODEL = "model"
# One set of names: the progress, the summary, `sync_state` and `--entities` all use these.
STREAM_NAMES: tuple[str, ...] = (DICTIONARIES, *(s.name for s in STREAMS))


def parse_streams(text: str | None) -> frozenset[str] | None:
    """The streams a comma-separated `--entities` names; None (everything) when it is empty."""
    names = {name.strip().lower() for name in (text or "").split(",") if name.strip()}
    if not names:
        return None
    unknown = [name for name in sorted(names) if name not in STREAM_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown --entities: {', '.join(unknown)}",
            hint=f"choose from: {', '.join(STREAM_NAMES)}",
        )
    return frozenset(names)
