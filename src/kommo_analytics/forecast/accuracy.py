"""Scoring stored snapshots once their month has closed: the forecast's record on a real account.

For each closed month two snapshots are scored against the revenue actually won in it (won deals
closed in the month, their price, a missing price as 0: ``sales.revenue`` of ``metrics --json``):
the latest made *before the month began* (what a manager planned the month with) and the latest
made in the month *on or before the 15th* (the mid-month look, as in the backtest). A month is
closed when "now" is past its last day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd

from kommo_analytics.forecast.backtest import MID_MONTH_DAY, monthly_revenue
from kommo_analytics.forecast.calendar import index_of
from kommo_analytics.forecast.inputs import History
from kommo_analytics.forecast.result import (
    Accuracy,
    Forecast,
    ScoredMonth,
    ScoredSnapshot,
    Snapshot,
)

ACCURACY_MONTHS = 6


def _index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _scored(snapshot: Snapshot | None, kind: str, actual: float) -> ScoredSnapshot | None:
    if snapshot is None:
        return None
    r = snapshot.revenue
    error = r.p50 - actual
    return ScoredSnapshot(
        kind="before_month" if kind == "before_month" else "mid_month",
        made_on=snapshot.made_on,
        p10=r.p10,
        p50=r.p50,
        p90=r.p90,
        inside=r.p10 <= actual <= r.p90,
        error=error,
        relative_error=error / actual if actual > 0 else None,
    )


def accuracy(
    snapshots: Iterable[Snapshot],
    history: History,
    *,
    now: pd.Timestamp,
    months: int = ACCURACY_MONTHS,
) -> Accuracy:
    """The last ``months`` closed months with a snapshot, newest first, each with its actual and
    its two scored snapshots, and the counts "actual inside P10–P90, of scored"."""
    now = pd.Timestamp(now).tz_convert(history.tz)
    current = index_of(now)
    before: dict[int, Snapshot] = {}
    mid: dict[int, Snapshot] = {}
    for s in sorted(snapshots, key=lambda s: (s.made_on, s.as_of)):
        target, made = _index(s.month), _index(s.made_on)
        if target >= current:
            continue  # not closed yet
        if made < target:
            before[target] = s  # sorted: the last one seen is the latest
        elif made == target and s.made_on.day <= MID_MONTH_DAY:
            mid[target] = s
    scored = sorted(set(before) | set(mid), reverse=True)[:months]
    revenue = monthly_revenue(history, now)
    rows = []
    for target in scored:
        actual = revenue.get(target, 0.0)
        rows.append(
            ScoredMonth(
                month=date(target // 12, target % 12 + 1, 1),
                actual=actual,
                before_month=_scored(before.get(target), "before_month", actual),
                mid_month=_scored(mid.get(target), "mid_month", actual),
            )
        )
    firsts = [m.before_month for m in rows if m.before_month is not None]
    mids = [m.mid_month for m in rows if m.mid_month is not None]
    return Accuracy(
        now=now.to_pydatetime(),
        months=tuple(rows),
        inside_before_month=sum(s.inside for s in firsts),
        scored_before_month=len(firsts),
        inside_mid_month=sum(s.inside for s in mids),
        scored_mid_month=len(mids),
    )


def method_of(result: Forecast) -> str:
    """The new-leads methods a forecast used ("holt_damped+recent_mean"); "none" without one."""
    if result.new_leads is None:
        return "none"
    methods = {result.new_leads.volume.method, result.new_leads.wins_per_lead.method}
    return "+".join(sorted(methods))


def snapshots(result: Forecast) -> tuple[Snapshot, ...]:
    """The company's months of a forecast, as the rows a sync stores (none without a forecast)."""
    if result.status != "ok" or result.company is None:
        return ()
    made_on = result.now.date()  # "now" is in the account's zone: the account-local day
    return tuple(
        Snapshot(
            made_on=made_on,
            as_of=result.now,
            month=m.month,
            revenue=m.revenue,
            won_deals=m.won_deals,
            method=method_of(result),
            seed=result.seed,
        )
        for m in result.company.months
    )
