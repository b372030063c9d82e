"""The open pipeline: how likely each open deal is to be won, and in which coming month.

**Episodes.** Every time a lead entered an open stage (its last entry, if it came back) starts an
episode: the days it then stayed in the stage, and the days until the lead closed — won or lost
— or, while it is open, until now ("censored": it may yet be won).

**Age-conditioned probability.** A deal that has sat ``a`` days in a stage is compared with the
episodes that were *still in that stage* ``a`` days after entering it — not with all those still
open then: many of those had moved on and were nearer a win, and using them over-forecast the
current month by half on the emulator's accounts. Over those episodes the Aalen–Johansen
estimator gives two curves over the days since entry: the share still open, and the share won
so far; the deal is won later with ``(won share at the end − won share at a) ÷ open share at a``,
the deals still open counting as undecided rather than lost. A deal that has sat longer than
usual is therefore less likely to close, not more: the deals stuck that long are mostly the ones
that never close. This replaces a fixed decay rule (say, halving past the 90th percentile of
historical stays) with what the history itself says about deals of that age; ages are taken in
whole days for choosing the episodes.

**Shrinkage.** Few episodes make a noisy estimate, so it is pulled toward the pipeline's overall
win rate (scaled by how the pipeline's deals still in their stage at that age fare against fresh
ones, all its stages pooled) with a
Beta prior worth ``k`` pseudo-deals: ``(n · stage + k · pipeline) ÷ (n + k)``, ``n`` being the
closed episodes that had lasted at least ``a`` days. With the default ``k = 10`` a stage with 10
such deals gets half its own estimate and half the pipeline's, one with 90 gets 90 % its own: ten
deals is about where a rate's standard error (≈ 0.15 at 50 %) stops being larger than the usual
spread between a pipeline's stages, so below it the pipeline is the better guess.

**When.** The same curves give the share of the eventual wins that come within each coming
month, from the deal's age on. Stages with fewer than three wins after that age borrow the timing
of their pipeline's stages pooled, then of the company.

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
RECENT_TICKET = pd.Timedelta(days=180)


@dataclass(frozen=True)
class OpenPipeline:
    """Every open deal with its value and the probability of being won in each coming window
    (``p_window_0`` … ``p_window_{n-1}``; what is left is "later or never"), and the stage table."""

    deals: pd.DataFrame
    stages: tuple[StageProbability, ...]
    windows: int


@dataclass(frozen=True)
class Curve:
    """Aalen–Johansen estimate over the days since entering a stage: at each distinct closing
    time, the share of episodes still open (``survival``) and the share won so far (``won``)."""

    times: np.ndarray
    survival: np.ndarray
    won: np.ndarray
    closed_days: np.ndarray  # sorted durations of the closed episodes
    won_days: np.ndarray  # sorted durations of the won episodes

    @classmethod
    def fit(cls, days: np.ndarray, won: np.ndarray, closed: np.ndarray) -> Curve:
        days = np.asarray(days, dtype=float)
        order = np.argsort(days, kind="stable")
        return cls.fit_sorted(days[order], won[order], closed[order])

    @classmethod
    def fit_sorted(cls, days: np.ndarray, won: np.ndarray, closed: np.ndarray) -> Curve:
        """:meth:`fit` of episodes already in ascending ``days``: no sort, so the many fits of
        a large history's suffixes (``_Scope.still_there``) cost one pass each."""
        ended = days[closed]
        first = np.empty(len(ended), dtype=bool)
        first[:1] = True
        np.not_equal(ended[1:], ended[:-1], out=first[1:])
        times = ended[first]
        inverse = np.cumsum(first) - 1
        ends = np.bincount(inverse, minlength=len(times)).astype(float)
        wins = np.bincount(inverse, weights=won[closed].astype(float), minlength=len(times))
        at_risk = len(days) - np.searchsorted(days, times, side="left")
        survival = np.cumprod(1.0 - ends / at_risk)
        before = np.concatenate([[1.0], survival[:-1]])
        return cls(
            times,
            survival,
            np.cumsum(before * wins / at_risk),
            ended,
            days[closed & won],
        )

    def _at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.searchsorted(self.times, t, side="right") - 1
        known = i >= 0
        j = np.maximum(i, 0)
        if len(self.times) == 0:
            return np.ones_like(t, dtype=float), np.zeros_like(t, dtype=float)
        return np.where(known, self.survival[j], 1.0), np.where(known, self.won[j], 0.0)

    def evidence(self, age: np.ndarray) -> np.ndarray:
        """Closed episodes that had lasted at least ``age`` days."""
        count = len(self.closed_days) - np.searchsorted(self.closed_days, age, side="left")
        return np.asarray(count, dtype=float)

    def wins_after(self, age: np.ndarray) -> np.ndarray:
        count = len(self.won_days) - np.searchsorted(self.won_days, age, side="right")
        return np.asarray(count, dtype=float)

    def won_by(self, age: np.ndarray, until: np.ndarray) -> np.ndarray:
        """P(won within (age, until] | still open at age); 0 where nothing is left open."""
        open_share, won_then = self._at(age)
        _, won_later = self._at(until)
        # Clipped at 0: float rounding in the cumulative sums must not make a probability < 0.
        share: np.ndarray = np.divide(
            np.maximum(won_later - won_then, 0.0),
            open_share,
            out=np.zeros_like(won_then),
            where=open_share > 0,
        )
        return share

    def eventual(self, age: np.ndarray) -> np.ndarray:
        return self.won_by(age, np.full_like(age, np.inf, dtype=float))


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


def episodes(history: History, now: pd.Timestamp) -> pd.DataFrame:
    """One row per (lead, pipeline, open stage), from the lead's last entry into the stage:
    ``days`` to the lead's closing (or to now while it is open), ``stay_days`` in the stage
    itself (to now while it is still there), and whether it closed and was won."""
    leads = history.leads
    stays = history.stays[~history.stays["status_id"].isin(CLOSED_STATUSES)]
    keys = ["lead_id", "pipeline_id", "status_id"]
    last = stays.sort_values("entered_at", kind="stable").groupby(keys, as_index=False).tail(1)
    last = last.loc[:, [*keys, "entered_at", "left_at"]]
    state = leads.loc[:, ["lead_id", "status_id", "closed_at"]].rename(
        columns={"status_id": "final"}
    )
    last = last.merge(state, on="lead_id", how="left")
    last["closed"] = last["final"].isin(CLOSED_STATUSES) & last["closed_at"].notna()
    last["won"] = last["closed"] & (last["final"] == WON_STATUS_ID)
    end = last["closed_at"].where(last["closed"], now)
    last["days"] = in_days(end - last["entered_at"]).clip(lower=0.0).astype(float)
    left = last["left_at"].fillna(now)
    last["stay_days"] = in_days(left - last["entered_at"]).clip(lower=0.0).astype(float)
    out: pd.DataFrame = last.loc[:, [*keys, "days", "stay_days", "closed", "won"]]
    return out


def _curve(frame: pd.DataFrame) -> Curve:
    return Curve.fit(
        frame["days"].to_numpy(dtype=float),
        frame["won"].to_numpy(dtype=bool),
        frame["closed"].to_numpy(dtype=bool),
    )


class _Scope:
    """Episodes of one stage, pipeline or the company, sorted by time in the stage, so that
    "still in the stage after d days" is a suffix of the arrays."""

    def __init__(self, frame: pd.DataFrame) -> None:
        order = np.argsort(frame["stay_days"].to_numpy(dtype=float), kind="stable")
        self.stay = frame["stay_days"].to_numpy(dtype=float)[order]
        days = frame["days"].to_numpy(dtype=float)[order]
        # The episodes again in ascending days, each with its place in stay order: a suffix in
        # stay order is then a selection that keeps them sorted by days, for Curve.fit_sorted.
        self.by_days = np.argsort(days, kind="stable")
        self.days = days[self.by_days]
        self.won = frame["won"].to_numpy(dtype=bool)[order][self.by_days]
        self.closed = frame["closed"].to_numpy(dtype=bool)[order][self.by_days]
        self._curves: dict[int, Curve] = {}

    def still_there(self, day: int) -> Curve:
        """The curve of the episodes still in their stage ``day`` days after entering it: a deal
        that has sat that long compares with those, not with all that were open then (many of
        those had moved on and were nearer a win)."""
        if day not in self._curves:
            start = int(np.searchsorted(self.stay, day, side="left"))
            still = self.by_days >= start
            self._curves[day] = Curve.fit_sorted(
                self.days[still], self.won[still], self.closed[still]
            )
        return self._curves[day]


def _pipeline_rates(history: History) -> tuple[dict[int, float], float]:
    """(pipeline → won / closed over its leads, the company's)."""
    closed = closed_leads(history)
    company = float(closed["won"].mean()) if len(closed) else 0.0
    return by_int_key(closed.groupby("pipeline_id")["won"].mean()), company


def stage_rates(
    history: History,
    now: pd.Timestamp,
    k: float = PRIOR_STRENGTH,
    eps: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per (pipeline_id, status_id): closed and won episodes, raw_rate (won / closed),
    prior_rate (the pipeline's) and the shrunk probability for a deal just entering the stage.
    ``eps``: the history's :func:`episodes` at ``now``, when already made."""
    if eps is None:
        eps = episodes(history, now)
    rates, company = _pipeline_rates(history)
    rows = []
    zero = np.zeros(1)
    for group, frame in eps.groupby(["pipeline_id", "status_id"]):
        pipeline_id, status_id = cast(tuple[int, int], group)
        closed = int(frame["closed"].sum())
        won = int(frame["won"].sum())
        prior = rates.get(int(pipeline_id), company)
        own = float(_curve(frame).eventual(zero)[0])
        shrunk = (closed * own + k * prior) / (closed + k) if closed + k > 0 else prior
        rows.append(
            {
                "pipeline_id": int(pipeline_id),
                "status_id": int(status_id),
                "closed": closed,
                "won": won,
                "raw_rate": won / closed if closed else np.nan,
                "prior_rate": prior,
                "probability": shrunk,
                "median_days_to_win": (
                    float(frame.loc[frame["won"], "days"].median()) if won else np.nan
                ),
            }
        )
    columns = [
        "pipeline_id",
        "status_id",
        "closed",
        "won",
        "raw_rate",
        "prior_rate",
        "probability",
        "median_days_to_win",
    ]
    return pd.DataFrame(rows, columns=columns)


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
    open_ = leads[~leads["status_id"].isin(CLOSED_STATUSES)].copy().reset_index(drop=True)
    last = history.stays.groupby("lead_id").tail(1).set_index("lead_id")["entered_at"]
    since = open_["lead_id"].map(last).fillna(open_["created_at"])
    open_["age_days"] = in_days(now - since).clip(lower=0.0).astype(float)

    tickets, company_ticket = average_tickets(history, now)
    priced = _priced(open_["price"])
    assumed = open_["pipeline_id"].map(tickets).fillna(company_ticket).astype(float)
    open_["priced"] = priced
    open_["value"] = open_["price"].where(priced, assumed).astype(float)

    eps = episodes(history, now)
    rates, company_rate = _pipeline_rates(history)
    table = stage_rates(history, now, k, eps)
    stage_table = {
        (int(r["pipeline_id"]), int(r["status_id"])): float(r["probability"])
        for r in table.to_dict("records")
    }
    stage_scopes = {
        (int(p), int(st)): _Scope(frame)
        for (p, st), frame in (
            (cast(tuple[int, int], key), frame)
            for key, frame in eps.groupby(["pipeline_id", "status_id"])
        )
    }
    pipeline_scopes = {int(cast(int, key)): _Scope(g) for key, g in eps.groupby("pipeline_id")}
    company_scope = _Scope(eps)
    nothing = _Scope(eps.iloc[0:0])

    edges = np.array([(end - now).total_seconds() / 86400.0 for end in window_ends])
    n = len(window_ends)
    probability = np.zeros(len(open_))
    table_p = np.zeros(len(open_))
    shares = np.zeros((len(open_), n))
    ages_all = open_["age_days"].to_numpy(dtype=float)
    days_all = np.floor(ages_all).astype(int)
    groups = open_.groupby(["pipeline_id", "status_id"], dropna=False).indices
    for group, rows in groups.items():
        pipeline_id, status_id = cast(tuple[int, Any], group)
        pipeline_id = int(pipeline_id)
        key = (pipeline_id, int(status_id)) if pd.notna(status_id) else None
        stage_scope = stage_scopes.get(key, nothing) if key else nothing
        pipeline_scope = pipeline_scopes.get(pipeline_id, company_scope)
        rate = rates.get(pipeline_id, company_rate)
        table_p[rows] = stage_table.get(key, rate) if key else rate
        fresh = float(pipeline_scope.still_there(0).eventual(np.zeros(1))[0])
        for day in np.unique(days_all[rows]):
            bucket = rows[days_all[rows] == day]
            ages = ages_all[bucket]
            stage = stage_scope.still_there(int(day))
            pooled = pipeline_scope.still_there(int(day))
            # The prior: the pipeline's rate, scaled by how its deals still in their stage
            # after this many days fare against fresh ones (all its stages pooled).
            ratio = pooled.eventual(ages) / fresh if fresh > 0 else np.zeros_like(ages)
            prior = np.minimum(rate * ratio, 1.0)
            evidence = stage.evidence(ages)
            own = stage.eventual(ages)
            probability[bucket] = (evidence * own + k * prior) / np.maximum(evidence + k, 1e-12)
            # Timing from the narrowest curve with at least three wins after the deal's age.
            chosen = np.zeros((len(bucket), n))
            settled = np.zeros(len(bucket), dtype=bool)
            for scope in (stage_scope, pipeline_scope, company_scope):
                timing = scope.still_there(int(day))
                use = ~settled & (timing.wins_after(ages) >= MIN_WON_TIMES)
                if use.any():
                    chosen[use] = _shares(timing, ages[use], edges)
                    settled |= use
                if settled.all():
                    break
            shares[bucket] = chosen
    open_["stage_probability"] = table_p
    open_["win_probability"] = probability
    per_window = np.diff(np.concatenate([np.zeros((len(open_), 1)), shares], axis=1), axis=1)
    for i in range(n):
        open_[f"p_window_{i}"] = probability * per_window[:, i]

    stages = _stage_table(table, open_)
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
    return OpenPipeline(open_.loc[:, columns], stages, n)


def _shares(curve: Curve, ages: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per deal and window end: the share of its eventual win that comes by then."""
    later = curve.eventual(ages)
    within = np.stack([curve.won_by(ages, ages + e) for e in edges], axis=1)
    out: np.ndarray = np.divide(
        within, later[:, None], out=np.zeros_like(within), where=later[:, None] > 0
    )
    return out


def _stage_table(rates: pd.DataFrame, open_: pd.DataFrame) -> tuple[StageProbability, ...]:
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
                median_days_to_win=(
                    float(row["median_days_to_win"])
                    if pd.notna(row["median_days_to_win"])
                    else None
                ),
                open_deals=int(stage["open_deals"]) if stage else 0,
                unpriced_deals=int(stage["unpriced"]) if stage else 0,
                open_value=float(stage["open_value"]) if stage else 0.0,
                weighted_value=float(stage["weighted"]) if stage else 0.0,
            )
        )
    return tuple(out)
