"""The synthetic Kommo account behind the emulator: a believable Brazilian sales team.

``build_account(seed, scale, now)`` fills an :class:`AccountStore` with about 26 months of
history: users and teams, pipelines, leads arriving with growth and seasonality through several
marketing channels, their stage moves, reassignments, contacts and companies, calls, chat
messages, e-mails, notes, tasks, the trash and the incoming-leads queue. The same arguments always
produce the same tables.

Phases, each with its own random stream (see ``common.stream``):
``setup`` (dictionaries, seed only) → ``funnel`` (leads, stage moves, owners) → ``people``
(contacts, companies) → ``activity`` (events, notes, tasks) → ``lifecycle`` (trash, prices,
tracking fields) → ``load`` (DuckDB).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from kommo_analytics.emulator.config import SCALES
from kommo_analytics.emulator.generator.activity import (
    activity_end,
    add_service_and_mail_notes,
    build_activity,
    build_tasks,
)
from kommo_analytics.emulator.generator.common import release_memory
from kommo_analytics.emulator.generator.funnel import build_leads
from kommo_analytics.emulator.generator.lifecycle import build_fields
from kommo_analytics.emulator.generator.load import Writer
from kommo_analytics.emulator.generator.people import build_people
from kommo_analytics.emulator.generator.profiles import PROFILES, profile_for
from kommo_analytics.emulator.generator.setup import build_setup
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.errors import EmulatorError

__all__ = ["PROFILES", "SCALE_LEADS", "build_account"]

SCALE_LEADS: dict[str, int] = {"small": 2_000, "medium": 50_000, "large": 1_000_000}


def _next_id(ids: np.ndarray[tuple[int], np.dtype[np.int64]], floor: int) -> int:
    return int(ids.max()) + 1 if ids.size else floor


def build_account(
    seed: int = 1,
    scale: str = "small",
    now: int | None = None,
    *,
    country: str = "BR",
    progress: Callable[[str, float], None] | None = None,
) -> AccountStore:
    """Generate the account for (seed, scale) as it looks at `now` (Unix seconds; default: the
    current hour), in `country`'s currency and time zone (profiles.py: BR, MX, CO, AR).
    `progress`, if given, is called with each phase name and its seconds."""
    if scale not in SCALE_LEADS:
        raise EmulatorError(
            f"unknown emulator scale {scale!r}", hint=f"use one of: {', '.join(SCALES)}"
        )
    profile = profile_for(country)
    if now is None:
        now = int(time.time()) // 3600 * 3600
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        release_memory()
        if progress is not None:
            elapsed = time.perf_counter()
            progress(name, elapsed - clock)
            clock = elapsed

    setup = build_setup(seed, now, profile)
    leads, moves = build_leads(setup, SCALE_LEADS[scale])
    phase("funnel")
    people = build_people(setup, leads)
    act_end = activity_end(setup, leads)
    activity, notes = build_activity(setup, leads, act_end)
    activity, notes, creation_note = add_service_and_mail_notes(setup, leads, activity, notes)
    tasks = build_tasks(setup, leads, moves, act_end)
    fields = build_fields(setup, leads, moves, activity, tasks, act_end)
    phase("activity")

    store = AccountStore.empty()
    con = store.con
    writer = Writer(con, setup)
    writer.dictionaries()
    writer.people(people, leads, tasks)
    writer.leads(leads, fields, people)
    writer.unsorted(leads, moves)
    phase("load entities")
    writer.tasks(tasks, leads, people)
    writer.notes(notes, leads, people)
    phase("load tasks and notes")
    next_seq = writer.events(leads, moves, activity, notes, tasks, fields, people, creation_note)
    phase("load events")
    meta = {
        "seed": seed,
        "scale": scale,
        "now": now,
        "demo_subdomain": setup.subdomain,
        "account_id": setup.account_id,
        "history_start": setup.start,
        "next_lead_id": _next_id(leads.ids, 10_000_000),
        "next_contact_id": _next_id(people.contact_ids, 20_000_000),
        "next_company_id": _next_id(people.company_ids, 30_000_000),
        "next_task_id": _next_id(tasks.ids, 70_000_000),
        "next_note_id": _next_id(notes.ids, 40_000_000),
        "next_event_seq": next_seq,
    }
    con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
    return store
