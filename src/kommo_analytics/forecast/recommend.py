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
    the smallest share through, or None without a stage of enough sample."""
    stays = history.stays
    if stays.empty:
        return None
    keys = list(zip(stays["pipeline_id"], stays["status_id"], strict=True))
    orders = pd.Series([stage_order.get((int(p), int(s))) for p, s in keys], index=stays.index)
    frame = stays.assign(order=orders, won=stays["status_id"] == WON_STATUS_ID)
    current = history.leads.set_index("lead_id")["status_id"]
    best: tuple[int, int, int, float, int] | None = None
    for pipeline_id, group in frame.groupby("pipeline_id"):
        staged = group[group["order"].notna()]
        if staged.empty:
            continue
        top = staged.groupby("lead_id")["order"].max()
        won = group[group["won"]].groupby("lead_id").size()
        by_order = {int(o): int(s) for (p, s), o in stage_order.items() if p == pipeline_id}
        for order in sorted(by_order)[:-1]:
            status_id = by_order[order]
            entered = staged.loc[staged["order"] == order, "lead_id"].unique()
            still = (current.reindex(entered) == status_id).fillna(False).astype(bool)
            left = [int(x) for x, s in zip(entered, still, strict=True) if not s]
            if len(left) < MIN_DROP_SAMPLE:
                continue
            through = sum(1 for x in left if top.get(x, 0) > order or x in won.index)
            drop = 1 - through / len(left)
            nxt = by_order[min(o for o in by_order if o > order)]
            if best is None or drop > best[3]:
                best = (int(str(pipeline_id)), status_id, nxt, drop, len(left))
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
