"""Module 3 — commercial activities: tasks (due, done, on time, overdue; meetings and follow-ups),
calls with their minutes, and messages, in total and per seller.

Tasks count when they are *due* in the period. A task counts as completed when it was completed
by ``as_of``. Calls and messages count when they happened in the period; outgoing ones only when
a person sent them (``created_by`` 0 is a robot or an integration), incoming ones always (the
client started them). Anything attached to a deleted lead is left out.
"""

from __future__ import annotations

from typing import Any

from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    count,
    in_local_period,
    num,
    pct,
    restrict_to_leads,
    ts,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams


def tasks_in_scope(m: Model, p: MetricParams, *, due_in_period: bool = True) -> Any:
    """Tasks inside the filters (none of a deleted lead), flagged done / on time / overdue as
    seen at as_of; only those due in the period unless ``due_in_period`` is False."""
    tasks = m.fact_tasks
    tasks = tasks.filter(tasks.lead_deleted == False)  # noqa: E712
    if due_in_period:
        tasks = tasks.filter(in_local_period(tasks.complete_till_local, p))
    if p.sellers:
        tasks = tasks.filter(tasks.responsible_user_id.isin(list(p.sellers)))
    tasks = restrict_to_leads(tasks, m, p)
    done = (tasks.is_completed == True) & (tasks.completed_at <= ts(p.as_of_utc))  # noqa: E712
    return tasks.mutate(
        done=done,
        done_on_time=done & (tasks.completed_at <= tasks.complete_till),
        overdue=~done & (tasks.complete_till < ts(p.as_of_utc)),
    )


def tasks_due(m: Model, p: MetricParams) -> Any:
    return tasks_in_scope(m, p)


def overdue_at_as_of(m: Model, p: MetricParams) -> Any:
    """Every task late at as_of, whatever its due date: what a seller has to catch up on."""
    tasks = tasks_in_scope(m, p, due_in_period=False)
    return tasks.filter(tasks.overdue)


def activities_in_period(m: Model, p: MetricParams) -> Any:
    acts = m.fact_activities
    acts = acts.filter(
        (acts.lead_deleted == False)  # noqa: E712
        & in_local_period(acts.created_local, p)
        & (acts.created_at <= ts(p.as_of_utc))
        & ((acts.direction == "in") | (acts.created_by != 0))
    )
    if p.sellers:
        acts = acts.filter(acts.created_by.isin(list(p.sellers)))
    return restrict_to_leads(acts, m, p)


def queries(m: Model, p: MetricParams) -> Queries:
    tasks = tasks_due(m, p)
    acts = activities_in_period(m, p)
    late = overdue_at_as_of(m, p)
    return {
        "overdue": late.group_by("responsible_user_id").aggregate(overdue=late.count()),
        "tasks": tasks.group_by(["responsible_user_id", "kind"]).aggregate(
            total=tasks.count(),
            completed=tasks.done.sum(),
            on_time=tasks.done_on_time.sum(),
            overdue=tasks.overdue.sum(),
        ),
        "activities": acts.group_by(["created_by", "medium", "direction"]).aggregate(
            events=acts.count(), call_seconds=acts.call_seconds.sum()
        ),
    }


def _sum(frame: Any, column: str, **where: str) -> int:
    for key, value in where.items():
        frame = frame[frame[key] == value]
    return int(frame[column].map(count).sum()) if len(frame) else 0


def assemble(results: Results, p: MetricParams) -> dict[str, Any]:
    tasks, acts = results["tasks"], results["activities"]
    total, completed = _sum(tasks, "total"), _sum(tasks, "completed")
    calls = acts[acts["medium"] == "call"]
    seconds = sum(num(v) or 0.0 for v in calls["call_seconds"]) if len(calls) else 0.0
    return {
        "tasks_total": total,
        "tasks_completed": completed,
        "completion_rate_pct": pct(completed, total),
        "on_time_rate_pct": pct(_sum(tasks, "on_time"), completed),
        "overdue": _sum(results["overdue"], "overdue"),
        "overdue_in_period": _sum(tasks, "overdue"),
        "follow_ups_total": _sum(tasks, "total", kind="follow_up"),
        "follow_ups_completed": _sum(tasks, "completed", kind="follow_up"),
        "meetings_scheduled": _sum(tasks, "total", kind="meeting"),
        "meetings_held": _sum(tasks, "completed", kind="meeting"),
        "calls_outgoing": _sum(acts, "events", medium="call", direction="out"),
        "calls_incoming": _sum(acts, "events", medium="call", direction="in"),
        "call_minutes": seconds / 60.0,
        "messages_outgoing": _sum(acts, "events", medium="chat", direction="out"),
        "messages_incoming": _sum(acts, "events", medium="chat", direction="in"),
        "emails_outgoing": _sum(acts, "events", medium="mail", direction="out"),
        "emails_incoming": _sum(acts, "events", medium="mail", direction="in"),
        "sms_outgoing": _sum(acts, "events", medium="sms", direction="out"),
        "per_seller": per_seller(results),
    }


def per_seller(results: Results) -> dict[int, dict[str, Any]]:
    """Per user id: tasks by the task's responsible user, calls and messages by their author."""
    out: dict[int, dict[str, Any]] = {}

    def entry(user: Any) -> dict[str, Any]:
        uid = int(user)
        return out.setdefault(
            uid,
            {
                "tasks_total": 0,
                "tasks_completed": 0,
                "tasks_on_time": 0,
                "overdue": 0,
                "overdue_in_period": 0,
                "meetings_held": 0,
                "calls_outgoing": 0,
                "calls_incoming": 0,
                "call_minutes": 0.0,
                "messages_outgoing": 0,
                "messages_incoming": 0,
                "emails_outgoing": 0,
                "sms_outgoing": 0,
            },
        )

    for r in tuples(results["tasks"]):
        if r.responsible_user_id is None or num(r.responsible_user_id) is None:
            continue
        e = entry(r.responsible_user_id)
        e["tasks_total"] += count(r.total)
        e["tasks_completed"] += count(r.completed)
        e["tasks_on_time"] += count(r.on_time)
        e["overdue_in_period"] += count(r.overdue)
        if r.kind == "meeting":
            e["meetings_held"] += count(r.completed)
    for r in tuples(results["overdue"]):
        if num(r.responsible_user_id) is not None:
            entry(r.responsible_user_id)["overdue"] += count(r.overdue)
    names = {
        ("call", "out"): "calls_outgoing",
        ("call", "in"): "calls_incoming",
        ("chat", "out"): "messages_outgoing",
        ("chat", "in"): "messages_incoming",
        ("mail", "out"): "emails_outgoing",
        ("sms", "out"): "sms_outgoing",
    }
    for r in tuples(results["activities"]):
        key = names.get((r.medium, r.direction))
        if key is None or num(r.created_by) in (None, 0.0):
            continue
        e = entry(r.created_by)
        e[key] += count(r.events)
        if r.medium == "call":
            e["call_minutes"] += (num(r.call_seconds) or 0.0) / 60.0
    for e in out.values():
        e["completion_rate_pct"] = pct(e["tasks_completed"], e["tasks_total"])
        e["on_time_rate_pct"] = pct(e["tasks_on_time"], e["tasks_completed"])
        e["calls"] = e["calls_outgoing"] + e["calls_incoming"]
    return out
