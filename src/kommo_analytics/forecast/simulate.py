"""Monte Carlo: the open pipeline and the new leads drawn together, many times, into ranges.

One draw is one possible course of the coming months:

- every open deal is won in the current month, the next, the one after, or not in that time,
  with the probabilities of ``pipeline.py``; a won deal brings its value;
- for each coming creation month the lead volume and wins per lead are drawn around their
  forecast (normal, cut at zero), the wins landing in each month are Poisson around
  volume × wins per lead × delay share, and their revenue is the wins times the ticket plus the
  ticket's spread (√wins × its standard deviation);
- revenue already won this month is added to the current month.

P10/P50/P90 are percentiles over the draws, for the company, each pipeline and each seller.
New-lead wins are split among pipelines and sellers by their share of the won deals (and won
revenue) of the last 12 months; a seller's range is their open deals plus that share. The
probability of reaching a goal is the share of draws at or above it. Same inputs and seed give
the same numbers: the draws come from one ``numpy.random.Generator`` in a fixed order, over deals
sorted by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kommo_analytics.forecast.calendar import index_of, month_start
from kommo_analytics.forecast.inputs import Goal, History
from kommo_analytics.forecast.new_leads import NewLeadsModel
from kommo_analytics.forecast.pipeline import OpenPipeline, closed_leads
from kommo_analytics.forecast.result import (
    GoalOutlook,
    MonthForecast,
    Range,
    Risk,
    ScopeForecast,
)

# Draw × deal cells handled at once: bounds memory on large pipelines (8 bytes each).
_CHUNK_CELLS = 2_000_000
HIGH_RISK_BELOW = 0.5
MEDIUM_RISK_BELOW = 0.8


@dataclass
class Draws:
    """Simulated revenue and won deals, shape (draws, months), for one scope; ``*_pipeline`` /
    ``*_new`` keep the two parts apart for their means."""

    revenue: np.ndarray
    deals: np.ndarray
    revenue_pipeline: np.ndarray
    revenue_new: np.ndarray


def _zeros(draws: int, months: int) -> Draws:
    return Draws(*(np.zeros((draws, months)) for _ in range(4)))


def risk_of(probability: float) -> Risk:
    if probability < HIGH_RISK_BELOW:
        return "high"
    if probability < MEDIUM_RISK_BELOW:
        return "medium"
    return "low"


def _codes(values: pd.Series, keys: list[int]) -> np.ndarray:
    """Each value's position in ``keys``; -1 for a missing value or one not among them."""
    known = values.notna().to_numpy()
    ids = values[known].to_numpy(dtype=np.int64)
    sort = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
    ordered = np.asarray(keys, dtype=np.int64)[sort]
    at = np.searchsorted(ordered, ids)
    found = at < len(ordered)
    found[found] = ordered[at[found]] == ids[found]
    codes = np.full(len(values), -1, dtype=int)
    codes[np.flatnonzero(known)[found]] = sort[at[found]]
    return codes


def _onehot(codes: np.ndarray, size: int) -> np.ndarray:
    matrix = np.zeros((len(codes), size))
    known = codes >= 0
    matrix[np.flatnonzero(known), codes[known]] = 1.0
    return matrix


def _simulate_pipeline(
    pipeline: OpenPipeline,
    groupings: list[np.ndarray],
    sizes: list[int],
    rng: np.random.Generator,
    draws: int,
) -> tuple[Draws, list[list[Draws]]]:
    """Company draws and, per grouping, one Draws per group."""
    months = pipeline.windows
    company = _zeros(draws, months)
    groups = [[_zeros(draws, months) for _ in range(size)] for size in sizes]
    deals = pipeline.deals
    if deals.empty:
        return company, groups
    cumulative = np.cumsum(
        deals[[f"p_window_{i}" for i in range(months)]].to_numpy(dtype=float), axis=1
    )
    values = deals["value"].to_numpy(dtype=float)
    step = max(1, _CHUNK_CELLS // draws)
    for start in range(0, len(deals), step):
        part = slice(start, start + step)
        u = rng.random((draws, len(values[part])))
        # The month a deal is won in: how many cumulative window probabilities u has passed
        # (== months means not won in the horizon).
        month = (u[:, :, None] >= cumulative[None, part, :]).sum(axis=2)
        onehots = [_onehot(codes[part], size) for codes, size in zip(groupings, sizes, strict=True)]
        # Won deals per draw, month and group: whole numbers, so counted exactly at once.
        counts = [_won_counts(month, codes[part], size, months) for codes, size in
                  zip(groupings, sizes, strict=True)]  # fmt: skip
        for m in range(months):
            won = (month == m).astype(float)
            revenue = won @ values[part]
            company.revenue[:, m] += revenue
            company.revenue_pipeline[:, m] += revenue
            company.deals[:, m] += won.sum(axis=1)
            for onehot, size, target, count in zip(onehots, sizes, groups, counts, strict=True):
                by_revenue = won @ (onehot * values[part, None])
                by_count = count[:, m, :]
                for g in range(size):
                    target[g].revenue[:, m] += by_revenue[:, g]
                    target[g].revenue_pipeline[:, m] += by_revenue[:, g]
                    target[g].deals[:, m] += by_count[:, g]
    return company, groups


def _won_counts(month: np.ndarray, codes: np.ndarray, size: int, months: int) -> np.ndarray:
    """(draws, months, size): how many deals of each group each draw wins in each month."""
    draws = month.shape[0]
    counted = (month < months) & (codes >= 0)[None, :]
    draw = np.broadcast_to(np.arange(draws)[:, None], month.shape)[counted]
    cell = (draw * months + month[counted]) * size + np.broadcast_to(codes, month.shape)[counted]
    flat = np.bincount(cell, minlength=draws * months * size).astype(float)
    return flat.reshape(draws, months, size)


def _simulate_new_leads(
    model: NewLeadsModel, rng: np.random.Generator, draws: int, months: int
) -> tuple[np.ndarray, np.ndarray]:
    """(revenue, wins), shape (draws, months), from leads created from now on."""
    revenue = np.zeros((draws, months))
    wins = np.zeros((draws, months))
    delay = model.delay
    for c in range(months):
        volume = np.maximum(
            model.volume_mean[c] + model.volume_sd[c] * rng.standard_normal(draws), 0.0
        )
        rate = np.maximum(model.wins_mean[c] + model.wins_sd[c] * rng.standard_normal(draws), 0.0)
        shares = np.zeros(months - c)
        take = min(len(delay), months - c)
        shares[:take] = delay[:take]
        if c == 0:
            # Leads created in what is left of this month have only that much of it to be won
            # in; the rest of their first-month share moves to the next month.
            part = model.remaining_share
            volume = volume * part
            if len(shares) > 1:
                shares[1] += shares[0] * (1.0 - part)
            shares[0] *= part
        expected = volume * rate
        for d, share in enumerate(shares):
            count = rng.poisson(expected * share).astype(float)
            noise = np.sqrt(count) * model.ticket_sd * rng.standard_normal(draws)
            revenue[:, c + d] += np.maximum(count * model.ticket[c] + noise, 0.0)
            wins[:, c + d] += count
    return revenue, wins


def _history_shares(
    history: History, now: pd.Timestamp, column: str, keys: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(count share, revenue share) of each key among the deals won in the last 12 months."""
    won = closed_leads(history)
    won = won[won["won"] & (won["closed_at"] >= month_start(now, -12)) & (won["closed_at"] < now)]
    codes = _codes(won[column], keys)
    counts = np.bincount(codes[codes >= 0], minlength=len(keys)).astype(float)
    price = won["price"].fillna(0.0).to_numpy(dtype=float)
    revenue = np.bincount(codes[codes >= 0], weights=price[codes >= 0], minlength=len(keys))
    total_count = max(len(won), 1)
    total_revenue = float(price.sum()) or 1.0
    return counts / total_count, revenue / total_revenue


def _won_to_date(
    history: History, now: pd.Timestamp, column: str | None, keys: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(revenue, deals) won in the current month before now: one value for the company
    (``column`` None), else one per key."""
    won = closed_leads(history)
    won = won[won["won"] & (won["closed_at"] >= month_start(now)) & (won["closed_at"] <= now)]
    price = won["price"].fillna(0.0).to_numpy(dtype=float)
    if column is None:
        return np.array([price.sum()]), np.array([float(len(won))])
    codes = _codes(won[column], keys)
    known = codes >= 0
    revenue = np.bincount(codes[known], weights=price[known], minlength=len(keys))
    deals = np.bincount(codes[known], minlength=len(keys)).astype(float)
    return revenue, deals


def _range(values: np.ndarray) -> Range:
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return Range(float(p10), float(p50), float(p90), float(values.mean()))


def _months(
    draws: Draws, month_starts: list[pd.Timestamp], won_revenue: float, won_deals: float
) -> tuple[MonthForecast, ...]:
    out = []
    for m, start in enumerate(month_starts):
        revenue = draws.revenue[:, m] + (won_revenue if m == 0 else 0.0)
        deals = draws.deals[:, m] + (won_deals if m == 0 else 0.0)
        out.append(
            MonthForecast(
                month=start.date(),
                revenue=_range(revenue),
                won_deals=_range(deals),
                won_to_date=won_revenue if m == 0 else 0.0,
                won_deals_to_date=int(won_deals) if m == 0 else 0,
                from_open_pipeline=float(draws.revenue_pipeline[:, m].mean()),
                from_new_leads=float(draws.revenue_new[:, m].mean()),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Simulated:
    company: ScopeForecast
    pipelines: tuple[ScopeForecast, ...]
    sellers: tuple[ScopeForecast, ...]
    goals: tuple[GoalOutlook, ...]


def simulate(
    history: History,
    now: pd.Timestamp,
    pipeline: OpenPipeline,
    new_leads: NewLeadsModel,
    goals: Sequence[Goal],
    *,
    seed: int,
    draws: int,
) -> Simulated:
    """Ranges for the current month and the ``pipeline.windows − 1`` after it."""
    months = pipeline.windows
    month_starts = [month_start(now, m) for m in range(months)]
    rng = np.random.default_rng(seed)
    recent_won = closed_leads(history)
    recent_won = recent_won[recent_won["won"] & (recent_won["closed_at"] >= month_start(now, -12))]
    pipeline_ids = sorted(
        {int(v) for v in pipeline.deals["pipeline_id"]}
        | {int(v) for v in recent_won["pipeline_id"]}
    )
    goal_users = {g.user_id for g in goals if g.user_id is not None}
    user_ids = sorted(
        {int(v) for v in pipeline.deals["user_id"].dropna()}
        | {int(v) for v in recent_won["user_id"].dropna()}
        | goal_users
    )
    keys = {"pipeline_id": pipeline_ids, "user_id": user_ids}
    codes = [_codes(pipeline.deals[c], k) for c, k in keys.items()]
    company, groups = _simulate_pipeline(
        pipeline, codes, [len(k) for k in keys.values()], rng, draws
    )
    new_revenue, new_wins = _simulate_new_leads(new_leads, rng, draws, months)
    company.revenue += new_revenue
    company.revenue_new += new_revenue
    company.deals += new_wins
    scopes: dict[str, list[ScopeForecast]] = {}
    for (column, ids), per_group in zip(keys.items(), groups, strict=True):
        count_share, revenue_share = _history_shares(history, now, column, ids)
        won_revenue, won_deals = _won_to_date(history, now, column, ids)
        counts = (
            rng.multinomial(
                new_wins.astype(np.int64),
                np.append(count_share, max(0.0, 1.0 - count_share.sum())),
            )
            if len(ids)
            else np.zeros((draws, months, 0))
        )
        forecasts = []
        for g, key in enumerate(ids):
            group = per_group[g]
            share = new_revenue * revenue_share[g]
            group.revenue += share
            group.revenue_new += share
            group.deals += counts[:, :, g]
            forecasts.append(
                ScopeForecast(
                    "pipeline" if column == "pipeline_id" else "seller",
                    key,
                    _months(group, month_starts, float(won_revenue[g]), float(won_deals[g])),
                )
            )
        scopes[column] = forecasts
    won_revenue, won_deals = _won_to_date(history, now, None, [])
    company_forecast = ScopeForecast(
        "company", None, _months(company, month_starts, float(won_revenue[0]), float(won_deals[0]))
    )
    by_user = dict(zip(user_ids, groups[1], strict=True))
    user_won, _ = _won_to_date(history, now, "user_id", user_ids)
    outlooks = []
    for goal in goals:
        m = goal.month.year * 12 + goal.month.month - 1 - index_of(now)
        if not 0 <= m < months:
            continue
        if goal.user_id is None:
            outcome = company.revenue[:, m] + (float(won_revenue[0]) if m == 0 else 0.0)
        else:
            position = user_ids.index(goal.user_id)
            outcome = by_user[goal.user_id].revenue[:, m] + (
                float(user_won[position]) if m == 0 else 0.0
            )
        p50 = float(np.percentile(outcome, 50))
        probability = float((outcome >= goal.amount).mean())
        outlooks.append(
            GoalOutlook(
                month=goal.month,
                user_id=goal.user_id,
                goal=float(goal.amount),
                p50=p50,
                gap=float(goal.amount) - p50,
                probability=probability,
                risk=risk_of(probability),
            )
        )
    return Simulated(
        company_forecast,
        tuple(scopes["pipeline_id"]),
        tuple(scopes["user_id"]),
        tuple(outlooks),
    )
