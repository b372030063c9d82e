"""Module 6 — forecast: facts about the month ``as_of`` falls in — revenue won so far, the month's
goal and what is missing, and the open pipeline by stage. It never extrapolates a run-rate and
calls it a forecast.

The range (P10/P50/P90 of the month and the two after it) is not computed here: it comes from the
forecast model (``forecast/``), which the read service (``service/reports.py``) runs and writes
into ``status``, ``note``, ``months``, ``method`` and ``seed``. Alone, this section says
``not_built`` and leaves them empty.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    count,
    num,
    scoped_leads,
    ts,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams, month_end, month_start
from kommo_analytics.workdays import working_days_left

STATUS = "not_built"


def queries(m: Model, p: MetricParams) -> Queries:
    today = p.as_of_local.date()
    first = datetime.combine(month_start(today), time())
    leads = scoped_leads(m, p)
    won = leads.filter(
        (leads.outcome == "won")
        & (leads.closed_local >= ts(first))
        & (leads.closed_at <= ts(p.as_of_utc))
    )
    open_ = leads.filter(leads.outcome == "open")
    stages = m.dim_stages.select("pipeline_id", "status_id", "stage_order", stage_name="name")
    open_by_stage = (
        open_.group_by(["pipeline_id", "status_id"])
        .aggregate(deals=lambda t: t.count(), value=lambda t: t.price.fill_null(0).sum())
        .join(stages, ["pipeline_id", "status_id"], how="left")
    )
    goals = m.input_goals
    goals = goals.filter(goals.month == month_start(today))
    if p.sellers:
        goals = goals.filter(goals.user_id.isin(list(p.sellers)))
    return {
        "won_month": won.aggregate(deals=won.count(), revenue=won.price.fill_null(0).sum()),
        "open_by_stage": open_by_stage,
        "goal_month": goals.aggregate(goal=goals.revenue_goal.sum(), rows=goals.count()),
    }


def assemble(results: Results, p: MetricParams) -> dict[str, Any]:
    today = p.as_of_local.date()
    won = results["won_month"]
    revenue = (num(won["revenue"].iloc[0]) or 0.0) if len(won) else 0.0
    goal_frame = results["goal_month"]
    has_goal = len(goal_frame) and count(goal_frame["rows"].iloc[0]) > 0
    goal = num(goal_frame["goal"].iloc[0]) if has_goal else None
    stages = results["open_by_stage"].sort_values(["pipeline_id", "stage_order"])
    end = month_end(today)
    return {
        "status": STATUS,
        "note": "no forecast model was run: no forecast ranges are shown",
        "month": month_start(today).isoformat()[:7],
        "month_revenue_to_date": revenue,
        "month_won_deals": count(won["deals"].iloc[0]) if len(won) else 0,
        "month_goal": goal,
        "month_gap_to_goal": goal - revenue if goal is not None else None,
        "days_left_in_month": (end - today).days,
        "working_days_left": working_days_left(month_start(today), today, p.calendar),
        "holiday_calendar": p.calendar.code,
        "open_pipeline": [
            {
                "pipeline_id": int(r.pipeline_id),
                "status_id": int(r.status_id),
                "name": r.stage_name,
                "deals": count(r.deals),
                "value": num(r.value) or 0.0,
            }
            for r in tuples(stages)
        ],
        "months": [],
        "method": "none",
        "seed": None,
    }
