"""Rolling-origin backtest: the forecast as it would have been made in the past, scored against
what happened and against three naive guesses.

For each of the last ``months`` closed months the forecast is made twice — at the month's first
midnight and on the 15th at midnight — from ``History.as_of(origin)``: only leads created, stays
entered and closings happened by then, so nothing later leaks in. Its P50 for that month and the
two after it (horizons 0, 1, 2) is compared with the revenue actually won in them, when they have
closed by ``now``. The baselines, also from what was known at the origin:

- **last month** — revenue won in the month before the origin's month;
- **same month last year** — the target month's revenue a year earlier, when the history reaches
  back that far;
- **run-rate** — revenue won so far in the origin's month ÷ days elapsed × days in the month
  (the earlier system's "forecast"); not formed at a month's start, where no day has elapsed.

Scores per origin kind, horizon and method: WAPE = Σ|actual − forecast| ÷ Σ actual (the total
error as a share of the total revenue: large months weigh more), MAPE = mean of
|actual − forecast| ÷ actual over months with revenue, and for the model the coverage: the share
of actuals inside P10–P90 (80 % if the ranges are honest; the target is 70–90 %).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from kommo_analytics.forecast.calendar import DAY, by_int_key, index_of, month_index, month_start
from kommo_analytics.forecast.engine import MONTHS, closed_months, forecast
from kommo_analytics.forecast.inputs import History
from kommo_analytics.forecast.pipeline import closed_leads
from kommo_analytics.forecast.result import Backtest, BacktestPoint, BacktestScore

BACKTEST_MONTHS = 12
BACKTEST_DRAWS = 500
MID_MONTH_DAY = 15
COVERAGE_TARGET = (0.7, 0.9)

Kind = Literal["month_start", "mid_month"]
Method = Literal["model", "last_month", "same_month_last_year", "run_rate"]
METHODS: tuple[Method, ...] = ("model", "last_month", "same_month_last_year", "run_rate")
KINDS: tuple[Kind, ...] = ("month_start", "mid_month")


def monthly_revenue(history: History, before: pd.Timestamp) -> dict[int, float]:
    """Won revenue per month index, counting wins up to ``before``."""
    won = closed_leads(history)
    won = won[won["won"] & (won["closed_at"] < before)]
    months = month_index(won["closed_at"])
    return by_int_key(won["price"].fillna(0.0).groupby(months).sum())


def _baselines(
    known: History, origin: pd.Timestamp, target: int
) -> tuple[float | None, float | None, float | None]:
    revenue = monthly_revenue(known, origin)
    first = int(month_index(known.leads["created_at"]).min())
    origin_month = index_of(origin)
    last = revenue.get(origin_month - 1, 0.0) if origin_month - 1 >= first else None
    year = revenue.get(target - 12, 0.0) if target - 12 >= first else None
    elapsed = (origin - month_start(origin)) / DAY
    rate = None
    if elapsed >= 1:
        length = (month_start(origin, 1) - month_start(origin)) / DAY
        rate = revenue.get(origin_month, 0.0) / elapsed * length
    return last, year, rate


def _score(pairs: list[tuple[float, float]]) -> tuple[float | None, float | None]:
    if not pairs:
        return None, None
    actual = np.array([a for a, _ in pairs])
    guess = np.array([f for _, f in pairs])
    error = np.abs(actual - guess)
    wape = float(error.sum() / actual.sum()) if actual.sum() > 0 else None
    positive = actual > 0
    mape = float((error[positive] / actual[positive]).mean()) if positive.any() else None
    return wape, mape


def backtest(
    history: History,
    *,
    now: pd.Timestamp,
    months: int = BACKTEST_MONTHS,
    seed: int = 0,
    draws: int = BACKTEST_DRAWS,
) -> Backtest:
    """Score the forecast made at the start and the middle of each of the last ``months``
    closed months before ``now``."""
    now = pd.Timestamp(now).tz_convert(history.tz)
    truth = history.as_of(now)
    actual = monthly_revenue(truth, month_start(now))
    now_month = index_of(now)
    points: list[BacktestPoint] = []
    skipped = 0
    for back in range(months, 0, -1):
        start = month_start(now, -back)
        origins: list[tuple[Kind, pd.Timestamp]] = [
            ("month_start", start),
            ("mid_month", start + pd.Timedelta(days=MID_MONTH_DAY - 1)),
        ]
        for kind, origin in origins:
            result = forecast(history, now=origin, seed=seed, draws=draws)
            if result.status != "ok" or result.company is None:
                skipped += 1
                continue
            known = history.as_of(origin)
            for h in range(MONTHS):
                target = index_of(origin) + h
                if target >= now_month:
                    continue
                last, year, rate = _baselines(known, origin, target)
                revenue = result.company.months[h].revenue
                points.append(
                    BacktestPoint(
                        origin=origin.to_pydatetime(),
                        origin_kind=kind,
                        horizon=h,
                        month=month_start(origin, h).date(),
                        actual=actual.get(target, 0.0),
                        p10=revenue.p10,
                        p50=revenue.p50,
                        p90=revenue.p90,
                        last_month=last,
                        same_month_last_year=year,
                        run_rate=rate,
                    )
                )
    if not points:
        reason = (
            f"no origin in the last {months} months had the 3 closed months of history a "
            f"forecast needs (the history holds {closed_months(truth, now)})"
        )
        return Backtest("insufficient_history", reason, now.to_pydatetime())
    scores, notes = _scores(points)
    reason = f"{len(points)} forecasts scored"
    if skipped:
        reason += f"; {skipped} origins skipped for lack of history"
    return Backtest("ok", reason, now.to_pydatetime(), tuple(points), scores, notes)


def _guess(point: BacktestPoint, method: Method) -> float | None:
    if method == "model":
        return point.p50
    value: float | None = getattr(point, method)
    return value


def _scores(points: list[BacktestPoint]) -> tuple[tuple[BacktestScore, ...], tuple[str, ...]]:
    scores: list[BacktestScore] = []
    notes: list[str] = []
    for kind in KINDS:
        for h in range(MONTHS):
            here = [p for p in points if p.origin_kind == kind and p.horizon == h]
            if not here:
                continue
            wapes: dict[Method, float] = {}
            for method in METHODS:
                pairs = [(p.actual, g) for p in here if (g := _guess(p, method)) is not None]
                wape, mape = _score(pairs)
                coverage = None
                if method == "model":
                    coverage = float(np.mean([p.p10 <= p.actual <= p.p90 for p in here]))
                scores.append(BacktestScore(kind, h, method, len(pairs), wape, mape, coverage))
                if wape is not None:
                    wapes[method] = wape
            notes.extend(_verdict(kind, h, wapes, scores[-len(METHODS)].coverage))
    return tuple(scores), tuple(notes)


def _verdict(kind: Kind, h: int, wapes: dict[Method, float], coverage: float | None) -> list[str]:
    where = f"{kind.replace('_', ' ')}, horizon {h}"
    baselines = {m: w for m, w in wapes.items() if m != "model"}
    out = []
    if "model" not in wapes:
        out.append(f"{where}: no revenue in the scored months, WAPE undefined")
    elif not baselines:
        out.append(f"{where}: no baseline could be formed")
    else:
        best = min(baselines, key=lambda m: baselines[m])
        verb = "beats" if wapes["model"] < baselines[best] else "does NOT beat"
        out.append(
            f"{where}: model WAPE {wapes['model']:.1%} {verb} the best baseline "
            f"({best.replace('_', ' ')}, {baselines[best]:.1%})"
        )
    if coverage is not None:
        low, high = COVERAGE_TARGET
        inside = "inside" if low <= coverage <= high else "OUTSIDE"
        out.append(f"{where}: coverage {coverage:.0%} is {inside} the {low:.0%}–{high:.0%} target")
    return out
