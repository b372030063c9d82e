"""The open pipeline: how likely each open deal is to be won, and in which coming month.

**Stage probability.** For every (pipeline, stage), the deals that were ever in that stage and
have closed since: ``won / closed`` is the raw rate. Few deals make a noisy rate, so it is shrunk
toward the pipeline's overall win rate with a Beta prior worth ``k`` pseudo-deals:
``(won + k · pipeline_rate) / (closed + k)``. With the default ``k = 10`` a stage with 10 closed
deals gets half its own rate and half the pipeline's, one with 90 gets 90 % its own: ten deals is
about where a rate's standard error (≈ 0.15 at 50 %) stops being larger than the usual spread
between a pipeline's stages, so below it the pipeline rate is the better guess.

**When.** From the same stage, the days from the (last) entry into it to the win, over won deals.
A deal that has already sat ``a`` days in the stage can only close later than that, so its
remaining time is drawn from the historical times longer than ``a``, minus ``a`` (the
survival-conditioned distribution). Deals that have sat longer than the 90th percentile of those
times are past what history can say: they are treated as if they were at that percentile, and
their win probability halves for every further such span (``0.5 ** ((a − p90) / p90)``) — an
old deal is less likely to close, not more. Stages with fewer than three won deals borrow the
times of their whole pipeline, then of the company.

**Value.** A deal's own price; a deal without one (empty or 0) is valued at its pipeline's
recent average ticket (won deals of the last 180 days; all-time, then company-wide when there are
none) and counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from kommo_analytics.forecast.calendar import by_int_key, in_days
from kommo_analytics.forecast.inputs import CLOSED_STATUSES, History
from kommo_analytics.forecast.result import StageProbability
from kommo_analytics.kommo.entities import WON_STATUS_ID

PRIOR_STRENGTH = 10.0
MIN_WON_TIMES = 3
STALE_QUANTILE = 0.9
RECENT_TICKET = pd.Timedelta(days=180)


@dataclass(frozen=True)
class OpenPipeline:
    """Every open deal with its value and the probability of being won in each coming window
    (``p_window_0`` … ``p_window_{n-1}``; what is left is "later or never"), and the stage table."""

    deals: pd.DataFrame
    stages: tuple[StageProbability, ...]
    windows: int


def closed_leads(history: History) -> pd.DataFrame:
    leads = history.leads
    closed = leads[leads["status_id"].isin(CLOSED_STATUSES) & leads["closed_at"].notna()].copy()
    closed["won"] = closed["status_id"] == WON_STATUS_ID
    return closed


def _priced(price: pd.Series) -> pd.Series:
    return price.notna() & (price > 0)


def average_tickets(history: History, now: pd.Timestamp) -> tuple[dict[int, float], float]:
    """(pipeline → recent average ticket, company average ticket) of won deals with a price."""
    won = closed_leads(history)
    won = won[won["won"] & _priced(won["price"])]
    company = float(won["price"].mean()) if len(won) else 0.0
    recent = won[won["closed_at"] > now - RECENT_TICKET]
    tickets = by_int_key(won.groupby("pipeline_id")["price"].mean())
    tickets.update(by_int_key(recent.groupby("pipeline_id")["price"].mean()))
    return tickets, company


def _won_times(history: History) -> pd.DataFrame:
    """(pipeline_id, status_id, days) from the last entry into each open stage to the win."""
    closed = closed_leads(history)
    won = closed.loc[closed["won"], ["lead_id", "closed_at"]]
    stays = history.stays[~history.stays["status_id"].isin(CLOSED_STATUSES)]
    stays = stays.merge(won, on="lead_id")
    last = stays.groupby(["lead_id", "pipeline_id", "status_id"], as_index=False).agg(
        entered_at=("entered_at", "max"), closed_at=("closed_at", "first")
    )
    last["days"] = in_days(last["closed_at"] - last["entered_at"]).clip(lower=0.0)
    return last.loc[:, ["pipeline_id", "status_id", "days"]]


def stage_rates(history: History, k: float = PRIOR_STRENGTH) -> pd.DataFrame:
    """Per (pipeline_id, status_id): closed, won, raw_rate, prior_rate and the shrunk
    probability."""
    closed = closed_leads(history)
    company = float(closed["won"].mean()) if len(closed) else 0.0
    prior = closed.groupby("pipeline_id")["won"].mean()
    stays = history.stays[~history.stays["status_id"].isin(CLOSED_STATUSES)]
    seen = stays.loc[:, ["lead_id", "pipeline_id", "status_id"]].drop_duplicates()
    seen = seen.merge(closed.loc[:, ["lead_id", "won"]], on="lead_id", how="left")
    seen["closed"] = seen["won"].notna()
    seen["won"] = seen["won"].fillna(False).astype(bool)
    table = seen.groupby(["pipeline_id", "status_id"], as_index=False).agg(
        closed=("closed", "sum"), won=("won", "sum")
    )
    table["prior_rate"] = table["pipeline_id"].map(prior).fillna(company).astype(float)
    table["raw_rate"] = (table["won"] / table["closed"]).where(table["closed"] > 0)
    table["probability"] = (table["won"] + k * table["prior_rate"]) / (table["closed"] + k)
    return table


def _window_probabilities(
    times: np.ndarray, ages: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(decay per deal, P(remaining time ≤ each edge | survived to its age) per deal and edge)."""
    times = np.sort(times)
    p90 = float(np.quantile(times, STALE_QUANTILE))
    span = max(p90, 1.0)
    decay = 0.5 ** (np.maximum(ages - p90, 0.0) / span)
    effective = np.minimum(ages, p90)
    # >=, not >: at the 90th percentile itself at least one time is left to condition on.
    first = np.searchsorted(times, effective, side="left")
    left = len(times) - first
    upto = np.searchsorted(times, effective[:, None] + edges[None, :], side="right")
    cumulative = (upto - first[:, None]) / np.maximum(left, 1)[:, None]
    return decay, cumulative


def open_pipeline(
    history: History,
    now: pd.Timestamp,
    window_ends: list[pd.Timestamp],
    *,
    k: float = PRIOR_STRENGTH,
) -> OpenPipeline:
    """Open deals as of ``now`` with their win probability in each window ``(previous end,
    end]`` (the first starts at ``now``)."""
    leads = history.leads
    open_ = leads[~leads["status_id"].isin(CLOSED_STATUSES)].copy()
    last = history.stays.groupby("lead_id").tail(1).set_index("lead_id")["entered_at"]
    since = open_["lead_id"].map(last).fillna(open_["created_at"])
    open_["age_days"] = in_days(now - since).clip(lower=0.0).astype(float)

    rates = stage_rates(history, k)
    closed = closed_leads(history)
    company_rate = float(closed["won"].mean()) if len(closed) else 0.0
    pipeline_rate = closed.groupby("pipeline_id")["won"].mean()
    keyed = rates.set_index(["pipeline_id", "status_id"])["probability"]
    keys = pd.MultiIndex.from_arrays([open_["pipeline_id"], open_["status_id"]])
    stage_p = pd.Series(keyed.reindex(keys).to_numpy(), index=open_.index)
    # A stage no closed deal went through: its pipeline's rate (the prior with no data).
    fallback = open_["pipeline_id"].map(pipeline_rate).fillna(company_rate)
    open_["stage_probability"] = stage_p.fillna(fallback).astype(float)

    tickets, company_ticket = average_tickets(history, now)
    priced = _priced(open_["price"])
    assumed = open_["pipeline_id"].map(tickets).fillna(company_ticket).astype(float)
    open_["priced"] = priced
    open_["value"] = open_["price"].where(priced, assumed).astype(float)

    times = _won_times(history)
    edges = np.array([(end - now).total_seconds() / 86400.0 for end in window_ends])
    n = len(window_ends)
    cumulative = np.zeros((len(open_), n))
    decay = np.ones(len(open_))
    by_stage: dict[tuple[int, int], np.ndarray] = {}
    for key, g in times.groupby(["pipeline_id", "status_id"]):
        pipeline_id, status_id = cast(tuple[int, int], key)
        by_stage[(int(pipeline_id), int(status_id))] = g["days"].to_numpy(dtype=float)
    by_pipeline = {
        int(cast(int, key)): g["days"].to_numpy(dtype=float)
        for key, g in times.groupby("pipeline_id")
    }
    company_times = times["days"].to_numpy()
    positions = np.arange(len(open_))
    groups = open_.groupby(["pipeline_id", "status_id"], dropna=False).indices
    has_times = np.zeros(len(open_), dtype=bool)
    for group, rows in groups.items():
        pipeline_id, status_id = cast(tuple[int, Any], group)
        stage_key = (int(pipeline_id), int(status_id)) if pd.notna(status_id) else None
        sample = by_stage.get(stage_key, np.empty(0)) if stage_key else np.empty(0)
        if len(sample) < MIN_WON_TIMES:
            sample = by_pipeline.get(int(pipeline_id), np.empty(0))
        if len(sample) < MIN_WON_TIMES:
            sample = company_times
        if len(sample) == 0:
            continue
        idx = positions[rows]
        d, c = _window_probabilities(sample, open_["age_days"].to_numpy()[idx], edges)
        decay[idx] = d
        cumulative[idx] = c
        has_times[idx] = True
    # With no won deal anywhere there is nothing to say when a deal would be won: it is not.
    open_["win_probability"] = np.where(has_times, open_["stage_probability"] * decay, 0.0)
    per_window = np.diff(np.concatenate([np.zeros((len(open_), 1)), cumulative], axis=1), axis=1)
    for i in range(n):
        open_[f"p_window_{i}"] = open_["win_probability"].to_numpy() * per_window[:, i]

    stages = _stage_table(rates, open_, times)
    columns = [
        "lead_id",
        "pipeline_id",
        "status_id",
        "user_id",
        "value",
        "priced",
        "age_days",
        "stage_probability",
        "win_probability",
        *(f"p_window_{i}" for i in range(n)),
    ]
    return OpenPipeline(open_.loc[:, columns].reset_index(drop=True), stages, n)


def _stage_table(
    rates: pd.DataFrame, open_: pd.DataFrame, times: pd.DataFrame
) -> tuple[StageProbability, ...]:
    by_stage = open_.groupby(["pipeline_id", "status_id"]).agg(
        open_deals=("lead_id", "size"),
        unpriced=("priced", lambda s: int((~s).sum())),
        open_value=("value", "sum"),
    )
    weighted = (
        (open_["value"] * open_["win_probability"])
        .groupby([open_["pipeline_id"], open_["status_id"]])
        .sum()
    )
    by_stage["weighted"] = weighted
    stages = {
        (int(r["pipeline_id"]), int(r["status_id"])): r
        for r in by_stage.reset_index().to_dict("records")
    }
    medians = times.groupby(["pipeline_id", "status_id"])["days"].median().reset_index()
    median = {
        (int(r["pipeline_id"]), int(r["status_id"])): float(r["days"])
        for r in medians.to_dict("records")
    }
    out = []
    for row in rates.to_dict("records"):
        key = (int(row["pipeline_id"]), int(row["status_id"]))
        stage = stages.get(key)
        out.append(
            StageProbability(
                pipeline_id=key[0],
                status_id=key[1],
                closed_deals=int(row["closed"]),
                won_deals=int(row["won"]),
                raw_rate=float(row["raw_rate"]) if pd.notna(row["raw_rate"]) else None,
                pipeline_rate=float(row["prior_rate"]),
                probability=float(row["probability"]),
                median_days_to_win=median.get(key),
                open_deals=int(stage["open_deals"]) if stage else 0,
                unpriced_deals=int(stage["unpriced"]) if stage else 0,
                open_value=float(stage["open_value"]) if stage else 0.0,
                weighted_value=float(stage["weighted"]) if stage else 0.0,
            )
        )
    return tuple(out)
