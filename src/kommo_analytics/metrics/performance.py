"""Module 5 — performance by seller and by channel: rankings, conversion, goals against actual.

Sellers are credited as elsewhere: leads and deals by the lead's current responsible user, tasks
by the task's responsible user, calls by their author. A seller's goal for the period is the sum
of their monthly revenue goals, each pro-rated by the share of its month inside the period.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from kommo_analytics.metrics import activities, intake, sales
from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    count,
    created_in_period,
    num,
    pct,
    ratio,
    ts,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams, month_share, month_start


def queries(m: Model, p: MetricParams) -> Queries:
    leads = created_in_period(m, p)
    # As in intake: a response counts only when it happened by as_of.
    answered = leads.first_response_at.notnull() & (leads.first_response_at <= ts(p.as_of_utc))
    goals = m.input_goals
    goals = goals.filter((goals.month >= month_start(p.start)) & (goals.month <= p.end))
    if p.sellers:
        goals = goals.filter(goals.user_id.isin(list(p.sellers)))
    users = m.dim_users
    return {
        "leads_by_seller": leads.group_by("responsible_user_id").aggregate(
            leads=leads.count(),
            response_hours=answered.ifelse(leads.response_hours, None).mean(),
        ),
        "goals": goals.select("month", "user_id", "revenue_goal", "deals_goal"),
        "goals_any": m.input_goals.aggregate(rows=lambda t: t.count()),
        "users": users.select("user_id", "name", "is_active"),
    }


def period_goals(frame: Any, p: MetricParams) -> dict[int, dict[str, float]]:
    """Per user: revenue and deal goals for the period, pro-rated month by month."""
    goals: dict[int, dict[str, float]] = {}
    for r in tuples(frame):
        month = r.month if isinstance(r.month, date) else date.fromisoformat(str(r.month)[:10])
        share = month_share(month, p.start, p.end)
        entry = goals.setdefault(int(r.user_id), {"revenue": 0.0, "deals": 0.0, "has_deals": 0.0})
        entry["revenue"] += (num(r.revenue_goal) or 0.0) * share
        if num(r.deals_goal) is not None:
            entry["deals"] += (num(r.deals_goal) or 0.0) * share
            entry["has_deals"] = 1.0
    return goals


def sellers(
    own: Results,
    sales_results: Results,
    activity_results: Results,
    p: MetricParams,
) -> list[dict[str, Any]]:
    users = {int(r.user_id): r for r in tuples(own["users"])}
    leads = {
        int(r.responsible_user_id): r
        for r in tuples(own["leads_by_seller"])
        if num(r.responsible_user_id) is not None
    }
    deals = sales.per_seller(sales_results)
    acts = activities.per_seller(activity_results)
    goals = period_goals(own["goals"], p)
    ids = set(leads) | set(deals) | set(acts) | set(goals)
    ids |= {uid for uid, u in users.items() if bool(u.is_active)}
    if p.sellers:
        ids &= set(p.sellers)
    rows = []
    for uid in ids:
        d = deals.get(uid, {})
        a = acts.get(uid, {})
        lead_row = leads.get(uid)
        goal = goals.get(uid)
        revenue = d.get("revenue", 0.0)
        user = users.get(uid)
        rows.append(
            {
                "user_id": uid,
                "name": user.name if user is not None else None,
                "leads": count(lead_row.leads) if lead_row is not None else 0,
                "won": d.get("won", 0),
                "lost": d.get("lost", 0),
                "win_rate_pct": d.get("win_rate_pct"),
                "revenue": revenue,
                "avg_ticket": d.get("avg_ticket"),
                "response_time_avg_hours": num(lead_row.response_hours)
                if lead_row is not None
                else None,
                "tasks_completed": a.get("tasks_completed", 0),
                "calls": a.get("calls", 0),
                "goal": goal["revenue"] if goal else None,
                "attainment_pct": pct(revenue, goal["revenue"]) if goal else None,
                "deals_goal": goal["deals"] if goal and goal["has_deals"] else None,
            }
        )
    rows.sort(key=lambda r: (-r["revenue"], -r["won"], -r["leads"], str(r["name"])))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def channels(
    intake_results: Results, keys: tuple[str, ...], p: MetricParams
) -> list[dict[str, Any]]:
    by_channel = {str(r.channel): r for r in tuples(intake_results["by_channel"])}
    costs = intake.cost_by_channel(intake_results, p)
    rows = []
    for key in (*keys, *sorted(set(by_channel) - set(keys))):
        r = by_channel.get(key)
        leads = count(r.leads) if r is not None else 0
        won = count(r.won) if r is not None else 0
        revenue = (num(r.revenue) or 0.0) if r is not None else 0.0
        cost = costs.get(key)
        rows.append(
            {
                "channel": key,
                "leads": leads,
                "won": won,
                "conversion_pct": pct(won, leads),
                "revenue": revenue,
                "cost": cost,
                "cpl": ratio(cost, leads),
                "roi_pct": pct(revenue - cost, cost) if cost is not None else None,
            }
        )
    return rows


def goals_imported(own: Results) -> bool:
    frame = own["goals_any"]
    return bool(len(frame)) and count(frame["rows"].iloc[0]) > 0


def marketing(channel_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return on the channels that have costs: their revenue against what they cost. Channels
    without imported costs are left out (their cost is unknown, not zero)."""
    paid = [r for r in channel_rows if r["cost"] is not None]
    if not paid:
        return {"cost": None, "revenue": None, "roi_pct": None, "channels": []}
    cost = sum(r["cost"] for r in paid)
    revenue = sum(r["revenue"] for r in paid)
    return {
        "cost": cost,
        "revenue": revenue,
        "roi_pct": pct(revenue - cost, cost),
        "channels": [r["channel"] for r in paid],
    }
