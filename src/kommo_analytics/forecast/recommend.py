"""Pacing and recommendations, computed from a forecast and the history it was made from.

Each recommendation is a message key and the numbers it rests on (``Recommendation``); the words
are composed per language by the reader. Three keys:

- ``close_gap`` — a month whose company goal is above the P50: the gap, the won deals it takes
  at the current average ticket (won deals with a price closed in the last 12 months, as the
  new-leads model uses) and the new leads those deals take at the current lead-to-win rate (the
  model's wins per new lead for the month);
- ``largest_drop`` — the open stage that lets through the smallest share of the deals that
  left it (to any later stage of its pipeline, or won), over stages with at least
  ``MIN_DROP_SAMPLE`` deals that left, with the deals in that stage now and how many of them have
  had no activity (a call, a message, a stage move) for ``STALE_DAYS`` days;
- ``seller_at_risk`` — a seller whose goal for "now"'s month is at high risk (under 50 %), with
  their open deals and the stale ones among them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from kommo_analytics.forecast.calendar import in_days, month_start
from kommo_analytics.forecast.inputs import CLOSED_STATUSES, History
from kommo_analytics.forecast.result import (
    Forecast,
    GoalOutlook,
    Pacing,
    Recommendation,
    ScopeForecast,
)
from kommo_analytics.kommo.entities import WON_STATUS_ID
from kommo_analytics.workdays import WorkCalendar, working_days_left

STALE_DAYS = 14
MIN_DROP_SAMPLE = 10


def _won_to_date(scope: ScopeForecast | None, month: date) -> float:
    if scope is None:
        return 0.0
    return next((m.won_to_date for m in scope.months if m.month == month), 0.0)


def pacing(result: Forecast, now: pd.Timestamp, calendar: WorkCalendar) -> tuple[Pacing, ...]:
    """Per goal of the forecast (company and sellers): what is left and what it asks per
    remaining working day of ``calendar`` (the report's count: ``workdays.working_days_left``,
    "now" being the account's wall clock)."""
    if result.status != "ok" or result.new_leads is None:
        return ()
    ticket = result.new_leads.average_ticket
    sellers = {s.id: s for s in result.sellers}
    out = []
    for goal in result.goals:
        scope = result.company if goal.user_id is None else sellers.get(goal.user_id)
        won = _won_to_date(scope, goal.month)
        remaining = max(goal.goal - won, 0.0)
        days = working_days_left(goal.month, now.date(), calendar)
        deals = math.ceil(remaining / ticket) if ticket > 0 else 0
        out.append(
            Pacing(
                month=goal.month,
                user_id=goal.user_id,
                goal=goal.goal,
                won_to_date=won,
                remaining=remaining,
                working_days_left=days,
                revenue_per_day=remaining / days if days else None,
                average_ticket=ticket,
                deals_needed=deals,
                deals_per_day=deals / days if days else None,
            )
        )
    return tuple(out)


def _last_touch(history: History, last_activity: Mapping[int, pd.Timestamp] | None) -> pd.Series:
    """Per lead, its latest stage move or activity."""
    moves = history.stays.groupby("lead_id")["entered_at"].max()
    if last_activity:
        acts = pd.Series(last_activity, dtype=object)
        acts = pd.to_datetime(acts, utc=True).dt.tz_convert(history.tz)
        moves = pd.concat([moves, acts], axis=1).max(axis=1)
    touched: pd.Series = moves
    return touched


def _open(history: History) -> pd.DataFrame:
    leads = history.leads
    status = leads["status_id"]
    open_leads: pd.DataFrame = leads[status.notna() & ~status.isin(CLOSED_STATUSES)]
    return open_leads


def _stale(open_leads: pd.DataFrame, touched: pd.Series, now: pd.Timestamp) -> int:
    last = open_leads["lead_id"].map(touched)
    last = last.fillna(open_leads["created_at"])
    age = in_days(now - pd.to_datetime(last))
    return int((age >= STALE_DAYS).sum())


def largest_drop(
    history: History, stage_order: Mapping[tuple[int, int], int]
) -> tuple[int, int, int, float, int] | None:
    """(pipeline, stage, next stage, share lost, deals that left the stage) of the stage that lets
    the smallest share through, or None without a stage of enough sample.

    A deal left a stage when it entered it (in that pipeline) and is not in it now; it went
    through when a later stay of the pipeline has a higher order, or it was won there. Ties go to
    the lowest pipeline id, then the earliest stage. Counted over whole columns, never deal by
    deal: the History of a million leads has millions of stays."""
    stays = history.stays
    if stays.empty or not stage_order:
        return None
    # Each pipeline's stages by order (a shared order: the stage named last in ``stage_order``).
    by_order: dict[int, dict[int, int]] = {}
    for (p, s), o in stage_order.items():
        by_order.setdefault(int(p), {})[int(o)] = int(s)
    index = pd.MultiIndex.from_tuples(list(stage_order), names=["pipeline_id", "status_id"])
    orders = pd.Series(list(stage_order.values()), index=index, dtype="float64")
    keys = pd.MultiIndex.from_arrays([stays["pipeline_id"], stays["status_id"]])
    order = orders.reindex(keys).to_numpy()
    lead = stays["lead_id"].to_numpy(dtype="int64")
    pipeline = stays["pipeline_id"].to_numpy(dtype="int64")
    staged = ~np.isnan(order)
    frame = pd.DataFrame(
        {"pipeline_id": pipeline[staged], "lead_id": lead[staged], "order": order[staged]}
    )
    if frame.empty:
        return None
    top = frame.groupby(["pipeline_id", "lead_id"])["order"].max().rename("top")
    winners = stays.loc[stays["status_id"] == WON_STATUS_ID, ["pipeline_id", "lead_id"]]
    won = winners.drop_duplicates().assign(won=True).set_index(["pipeline_id", "lead_id"])["won"]
    entered = frame.drop_duplicates()
    entered = entered.join(top, on=["pipeline_id", "lead_id"])
    entered = entered.join(won, on=["pipeline_id", "lead_id"])
    stages = pd.DataFrame(
        [(p, float(o), s) for p, stages in by_order.items() for o, s in stages.items()],
        columns=["pipeline_id", "order", "stage"],
    )
    entered = entered.merge(stages, on=["pipeline_id", "order"], how="left")
    current = history.leads.set_index("lead_id")["status_id"]
    still = (entered["lead_id"].map(current) == entered["stage"]).fillna(False).astype(bool)
    left = entered[~still.to_numpy()]
    through = (left["top"] > left["order"]) | left["won"].fillna(False).astype(bool)
    counts = (
        left.assign(through=through)
        .groupby(["pipeline_id", "order"])
        .agg(deals=("lead_id", "size"), through=("through", "sum"))
    )
    best: tuple[int, int, int, float, int] | None = None
    # In (pipeline, order) order, as the groups come: a later tie does not replace the first.
    for pipeline_id, at, deals, went in zip(
        counts.index.get_level_values(0).astype("int64"),
        counts.index.get_level_values(1).astype("int64"),
        counts["deals"].astype("int64"),
        counts["through"].astype("int64"),
        strict=True,
    ):
        pipeline_stages = by_order[int(pipeline_id)]
        if at == max(pipeline_stages) or deals < MIN_DROP_SAMPLE:
            continue
        drop = 1 - int(went) / int(deals)
        nxt = pipeline_stages[min(o for o in pipeline_stages if o > at)]
        if best is None or drop > best[3]:
            best = (int(pipeline_id), pipeline_stages[int(at)], nxt, drop, int(deals))
    return best


def recommendations(
    result: Forecast,
    history: History,
    *,
    now: pd.Timestamp,
    stage_order: Mapping[tuple[int, int], int],
    last_activity: Mapping[int, pd.Timestamp] | None = None,
) -> tuple[Recommendation, ...]:
    """The recommendations the forecast and the history support, each with its numbers."""
    if result.status != "ok" or result.company is None or result.new_leads is None:
        return ()
    now = pd.Timestamp(now).tz_convert(history.tz)
    known = history.as_of(now)
    this_month = month_start(now).date()
    out: list[Recommendation] = []
    ticket = result.new_leads.average_ticket
    rates = result.new_leads.wins_per_lead.mean
    company_goals = [g for g in result.goals if g.user_id is None and g.gap > 0]
    for g in company_goals:
        horizon = next((i for i, m in enumerate(result.company.months) if m.month == g.month), 0)
        rate = rates[horizon] if horizon < len(rates) else None
        deals = math.ceil(g.gap / ticket) if ticket > 0 else None
        leads = math.ceil(deals / rate) if deals is not None and rate else None
        out.append(
            Recommendation(
                "close_gap",
                g.month,
                None,
                {
                    "gap": g.gap,
                    "p50": g.p50,
                    "goal": g.goal,
                    "average_ticket": ticket,
                    "deals_needed": deals,
                    "lead_to_win_rate": rate,
                    "leads_needed": leads,
                },
            )
        )
    touched = _last_touch(known, last_activity)
    open_leads = _open(known)
    drop = largest_drop(known, stage_order)
    if drop is not None:
        pipeline_id, status_id, next_id, share, sample = drop
        there = open_leads[
            (open_leads["pipeline_id"] == pipeline_id) & (open_leads["status_id"] == status_id)
        ]
        out.append(
            Recommendation(
                "largest_drop",
                this_month,
                None,
                {
                    "pipeline_id": pipeline_id,
                    "status_id": status_id,
                    "next_status_id": next_id,
                    "drop_rate": share,
                    "deals_left": sample,
                    "open_deals": len(there),
                    "stale_deals": _stale(there, touched, now),
                    "stale_days": STALE_DAYS,
                },
            )
        )
    at_risk: list[GoalOutlook] = [
        g
        for g in result.goals
        if g.user_id is not None and g.month == this_month and g.risk == "high"
    ]
    for g in sorted(at_risk, key=lambda g: g.probability):
        mine = open_leads[open_leads["user_id"] == g.user_id]
        out.append(
            Recommendation(
                "seller_at_risk",
                g.month,
                g.user_id,
                {
                    "goal": g.goal,
                    "p50": g.p50,
                    "gap": g.gap,
                    "probability": g.probability,
                    "open_deals": len(mine),
                    "stale_deals": _stale(mine, touched, now),
                    "stale_days": STALE_DAYS,
                },
            )
        )
    return tuple(out)
