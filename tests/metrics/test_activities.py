"""Module 3 — commercial activities: tasks due in the period, calls with their minutes, messages.

Period: October 2026 (São Paulo, UTC−3); as_of 15 Nov 2026 12:00 local unless a test says
otherwise. Builder timestamps are UTC.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.metrics.builders import (
    ANA,
    BRUNO,
    CARLA,
    FOLLOW_UP,
    MARIA,
    MEETING,
    PARTNER_TALK,
    PARTNERS,
    ROBOT,
    VISIT,
    call_note,
    event,
    lead,
    local,
    params,
    raw,
    run,
    seller,
    task,
    task_completed,
)

STORY = raw(
    leads=[lead(1), lead(2, responsible=BRUNO), lead(9, deleted=True)],
    tasks=[
        # T1: done at 17:00 by its event (updated again later): on time for 18:00.
        task(1, "2026-10-10 18:00", lead=1, completed=True, updated="2026-10-12 09:00"),
        # T2: no event, so its updated_at (Oct 12) is when it was done: late for Oct 11.
        task(2, "2026-10-11 18:00", lead=1, completed=True, updated="2026-10-12 10:00"),
        # T3: Bruno's meeting, held on time.
        task(3, "2026-10-20 15:00", type=MEETING, responsible=BRUNO, lead=2, completed=True),
        # T4: Bruno's meeting, never held: overdue (due before as_of).
        task(4, "2026-10-25 15:00", type=MEETING, responsible=BRUNO, lead=2),
        # T5: due in November: not October's.
        task(5, "2026-11-20 15:00", contact=MARIA),
        # T6: on a deleted lead: nowhere.
        task(6, "2026-10-15 15:00", lead=9),
        # T7: Carla's visit on a contact, due 23:30 local on Oct 31 (02:30 UTC Nov 1): in.
        # Done (updated_at) at 22:00 local: on time.
        task(
            7,
            local("2026-10-31 23:30"),
            type=VISIT,
            responsible=CARLA,
            contact=MARIA,
            completed=True,
            updated=local("2026-10-31 22:00"),
        ),
        # T8: due 00:30 local on Nov 1: out.
        task(8, local("2026-11-01 00:30"), responsible=CARLA, contact=MARIA),
    ],
    events=[
        task_completed(1, "2026-10-10 17:00"),
        task_completed(3, "2026-10-20 14:00", BRUNO),
        # Calls, with their notes' durations.
        event("outgoing_call", 1, "lead", "2026-10-10 13:00", ANA, note=501),  # 300 s
        event("incoming_call", 1, "lead", "2026-10-11 13:00", ANA, note=502),  # 90 s
        event("outgoing_call", MARIA, "contact", "2026-10-12 13:00", BRUNO, note=501),  # 600 s
        event("outgoing_call", 2, "lead", "2026-10-12 14:00", ROBOT, note=503),  # a robot: no
        event("outgoing_call", 9, "lead", "2026-10-12 15:00", ANA),  # deleted lead: no
        event("outgoing_call", 1, "lead", "2026-11-02 13:00", ANA),  # November: no
        # Messages: on a contact they count too; a robot's outgoing message does not; the
        # client's incoming message does (whoever Kommo names as its author).
        event("outgoing_chat_message", MARIA, "contact", "2026-10-13 13:00", ANA),
        event("incoming_chat_message", MARIA, "contact", "2026-10-13 13:05", ROBOT),
        event("outgoing_chat_message", 1, "lead", "2026-10-13 14:00", ROBOT),
    ],
    notes=[
        call_note(501, 1, 300),
        call_note(502, 1, 90),
        call_note(501, MARIA, 600, entity_type="contacts"),  # same id, other entity type
        call_note(503, 2, 120),
    ],
)


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return run(STORY)


def test_no_activity_means_zero_counts_and_unknown_rates() -> None:
    a = run(raw(leads=[lead(1)]))["activities"]
    assert a["tasks_total"] == 0 and a["tasks_completed"] == 0 and a["overdue"] == 0
    assert a["completion_rate_pct"] is None  # 0 of 0 is not 0 %
    assert a["on_time_rate_pct"] is None
    assert a["calls_outgoing"] == 0 and a["call_minutes"] == 0.0
    assert a["messages_outgoing"] == 0 and a["messages_incoming"] == 0


def test_tasks_due_in_the_period(story: dict[str, Any]) -> None:
    a = story["activities"]
    # T1, T2, T3, T4 and T7 (its 23:30 local deadline is Oct 31); T5 and T8 are November's,
    # T6 is on a deleted lead.
    assert a["tasks_total"] == 5
    assert a["tasks_completed"] == 4  # T1, T2, T3, T7
    assert a["completion_rate_pct"] == pytest.approx(80.0)
    # T1 (event 17:00 ≤ 18:00), T3, T7 on time; T2 done on Oct 12 for Oct 11.
    assert a["on_time_rate_pct"] == pytest.approx(75.0)
    assert a["overdue_in_period"] == 1  # T4
    # Late at as_of (Nov 15 noon) whatever the due date: T4, and T8 (due Nov 1, not done);
    # T5 is due Nov 20, still ahead.
    assert a["overdue"] == 2
    assert a["meetings_scheduled"] == 2  # T3, T4
    assert a["meetings_held"] == 1  # T3
    assert a["follow_ups_total"] == 2 and a["follow_ups_completed"] == 2  # T1, T2


def test_calls_and_messages(story: dict[str, Any]) -> None:
    a = story["activities"]
    # Ana's call on lead 1 and Bruno's on Maria; the robot's, the deleted lead's and November's
    # do not count.
    assert a["calls_outgoing"] == 2
    assert a["calls_incoming"] == 1
    # 300 s + 90 s + 600 s (Maria's note 501, not lead 1's) = 990 s.
    assert a["call_minutes"] == pytest.approx(16.5)
    assert a["messages_outgoing"] == 1  # Ana's chat to Maria; the robot's is not activity
    assert a["messages_incoming"] == 1  # Maria's message


def test_per_seller(story: dict[str, Any]) -> None:
    ana, bruno, carla = seller(story, ANA), seller(story, BRUNO), seller(story, CARLA)
    assert ana["tasks_completed"] == 2  # T1, T2
    assert ana["calls"] == 2  # one out, one in
    assert bruno["tasks_completed"] == 1  # T3
    assert bruno["calls"] == 1  # the call to Maria
    assert carla["tasks_completed"] == 1  # T7
    assert carla["calls"] == 0


def test_overdue_and_completion_are_seen_from_as_of() -> None:
    # "Now" is Oct 22 12:00 local: T4 (due Oct 25) is not overdue yet; T1 (done Oct 10) is done.
    a = run(STORY, params(as_of="2026-10-22T12:00:00-03:00"))["activities"]
    assert a["overdue"] == 0
    assert a["tasks_total"] == 5  # due dates in the period, whether or not they have come
    # On Oct 11 20:00 local (23:00 UTC) T1 is done, T2 is due since 18:00 UTC and not done yet
    # (it was completed on Oct 12): overdue. T3, T4, T7 are still ahead.
    b = run(STORY, params(as_of="2026-10-11T20:00:00-03:00"))["activities"]
    assert b["tasks_completed"] == 1
    assert b["overdue"] == 1
    assert b["on_time_rate_pct"] == 100.0


def test_a_seller_filter_keeps_that_sellers_tasks_and_calls() -> None:
    a = run(STORY, params(sellers=(BRUNO,)))["activities"]
    assert (a["tasks_total"], a["tasks_completed"]) == (2, 1)  # T3, T4
    assert a["calls_outgoing"] == 1  # Bruno's call
    assert a["call_minutes"] == pytest.approx(10.0)
    # Maria's incoming message has no seller as author: not Bruno's.
    assert a["messages_incoming"] == 0


def test_a_pipeline_filter_drops_what_is_not_on_a_lead_of_that_pipeline() -> None:
    data = raw(
        leads=[lead(1), lead(2, pipeline=PARTNERS, status=PARTNER_TALK)],
        tasks=[
            task(1, "2026-10-10 18:00", lead=1),
            task(2, "2026-10-10 18:00", lead=2),
            task(3, "2026-10-10 18:00", type=FOLLOW_UP, contact=MARIA),
        ],
        events=[
            event("outgoing_call", 1, "lead", "2026-10-10 13:00"),
            event("outgoing_call", 2, "lead", "2026-10-10 13:00"),
            event("outgoing_call", MARIA, "contact", "2026-10-10 13:00"),
        ],
    )
    everything = run(data)["activities"]
    assert (everything["tasks_total"], everything["calls_outgoing"]) == (3, 3)
    # Partners only: lead 2's task and call. The contact's cannot be attributed to a pipeline,
    # so they drop out while the filter is on (the contract is silent; the code's choice).
    partners = run(data, params(pipelines=(PARTNERS,)))["activities"]
    assert (partners["tasks_total"], partners["calls_outgoing"]) == (1, 1)
