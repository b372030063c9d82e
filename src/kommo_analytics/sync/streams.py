"""What the sync reads, declared as data: one stream per incremental crawl.

How each stream crawls, and why:

- ``KEYSET`` (leads, trash, contacts, call notes): ``order[updated_at]=asc`` within
  ``[watermark − overlap, T0]`` where T0 is the server's time when the sync started, always asking
  for page 1 *from the newest updated_at seen so far*. A record updated mid-crawl jumps past T0
  and out of the window without shifting anything still ahead of the cursor, so nothing is
  skipped (the drift an offset crawl suffers; kommo-api.md §9.1). The watermark is the cursor.
- ``WINDOWS`` (tasks): Kommo cannot order tasks by ``updated_at``, so the crawl pages through
  bounded ``updated_at`` windows in ascending order, then asks what changed since T0: a window
  that held one of those records may have shifted while it was being read, and is read again.
- ``EVENTS``: events never change and Kommo serves them newest first with no ``order``; a window
  that ended before T0 can gain no rows, so plain pages through closed ``created_at`` windows,
  oldest window first, lose nothing. Several pages are requested at once.
"""

from __future__ import annotations

from collections.abc import Callable
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
from kommo_analytics.sync import records
from kommo_analytics.sync.records import Json
from kommo_analytics.warehouse.loader import Row


class Crawl(StrEnum):
    KEYSET = "keyset"
    WINDOWS = "windows"
    EVENTS = "events"


Rows = dict[str, list[Row]]


def _leads(item: Json) -> Rows:
    lead, links = records.lead_rows(item)
    return {
        "leads": [lead],
        "lead_contacts": links,
        "lead_tracking": records.lead_tracking_rows(item),
    }


def _calls(entity_type: str) -> Callable[[Json], Rows]:
    return lambda item: {"call_notes": [records.call_note_row(item, entity_type)]}


@dataclass(frozen=True)
class Stream:
    name: str  # the watermark's key in sync_state, and what progress and `--entities` call it
    entity: Entity
    crawl: Crawl
    to_rows: Callable[[Json], Rows]
    params: dict[str, str] = field(default_factory=dict)
    # Seconds per window for WINDOWS and EVENTS crawls of long histories.
    window_seconds: int = 30 * 86400


CALL_NOTE_TYPES = {"filter[note_type][0]": "call_in", "filter[note_type][1]": "call_out"}

STREAMS: tuple[Stream, ...] = (
    Stream(
        "leads",
        LEADS,
        Crawl.KEYSET,
        _leads,
        {"with": ",".join(LEADS.with_options)},
    ),
    # Leads in the trash (kommo-api.md §9.2): id and the time they were deleted.
    Stream(
        "deleted_leads",
        LEADS,
        Crawl.KEYSET,
        lambda item: {"deleted_leads": [records.deleted_lead_row(item)]},
        {"with": "only_deleted"},
    ),
    Stream(
        "contacts",
        CONTACTS,
        Crawl.KEYSET,
        lambda item: {"contacts": [records.contact_row(item)]},
        {"with": ",".join(CONTACTS.with_options)},
    ),
    Stream(
        "tasks",
        TASKS,
        Crawl.WINDOWS,
        lambda item: {"tasks": [records.task_row(item)]},
    ),
    Stream("lead_calls", LEAD_NOTES, Crawl.KEYSET, _calls("leads"), CALL_NOTE_TYPES),
    Stream("contact_calls", CONTACT_NOTES, Crawl.KEYSET, _calls("contacts"), CALL_NOTE_TYPES),
    Stream(
        "events",
        EVENTS,
        Crawl.EVENTS,
        lambda item: {"events": [records.event_row(item)]},
    ),
)

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
