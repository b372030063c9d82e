"""Every result of the forecast, as frozen dataclasses; ``to_dict()`` gives JSON-ready keys
(dates and times as ISO strings, tuples as lists, NaN as None)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from typing import Any, Literal

from kommo_analytics.workdays import WEEKENDS_ONLY, WorkCalendar

Status = Literal["ok", "insufficient_history"]
Risk = Literal["high", "medium", "low"]


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _jsonable(self)
        return out


@dataclass(frozen=True)
class Range(_ToDict):
    """The 10th, 50th and 90th percentiles of a simulated quantity, and its mean."""

    p10: float
    p50: float
    p90: float
    mean: float


@dataclass(frozen=True)
class MonthForecast(_ToDict):
    month: date
    revenue: Range
    won_deals: Range
    # Already won in this month before "now" (non-zero only for the current month); included in
    # the ranges.
    won_to_date: float
    won_deals_to_date: int
    # Means of the two simulated parts, so a reader can see where the number comes from.
    from_open_pipeline: float
    from_new_leads: float


@dataclass(frozen=True)
class ScopeForecast(_ToDict):
    """The months for one scope: the company (``id`` None), a pipeline or a seller. Percentiles
    are of each scope's own total, so the pipelines' P50s need not add up to the company's."""

    scope: Literal["company", "pipeline", "seller"]
    id: int | None
    months: tuple[MonthForecast, ...]


@dataclass(frozen=True)
class StageProbability(_ToDict):
    pipeline_id: int
    status_id: int
    closed_deals: int  # deals that were in this stage and have closed: the sample size
    won_deals: int
    raw_rate: float | None  # won / closed, None without a closed deal
    pipeline_rate: float  # the prior it is shrunk toward
    # For a deal entering the stage: (closed · own + k · pipeline_rate) / (closed + k), "own"
    # being the Aalen–Johansen estimate (open deals undecided, not lost).
    probability: float
    median_days_to_win: float | None
    open_deals: int
    unpriced_deals: int
    open_value: float
    weighted_value: float  # Σ value × each open deal's age-conditioned win probability


@dataclass(frozen=True)
class OpenPipelineSummary(_ToDict):
    open_deals: int
    priced_deals: int
    unpriced_deals: int  # valued at their pipeline's recent average ticket
    unpriced_value: float
    weighted_value: float
    prior_strength: float
    stages: tuple[StageProbability, ...]


@dataclass(frozen=True)
class SeriesForecast(_ToDict):
    """One monthly series and its forecast: which model, and why that one."""

    name: str
    method: Literal["holt_winters_seasonal", "holt_damped", "recent_mean", "none"]
    reason: str
    history: tuple[float, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]


@dataclass(frozen=True)
class NewLeadsSummary(_ToDict):
    volume: SeriesForecast  # leads created per month
    revenue_per_lead: SeriesForecast  # won revenue per lead, by creation month
    wins_per_lead: SeriesForecast
    # Share of a month's eventual wins that come in its own month, the next, … (last: later).
    delay_shares: tuple[float, ...]
    average_ticket: float


@dataclass(frozen=True)
class GoalOutlook(_ToDict):
    month: date
    user_id: int | None  # None: the company's goal
    goal: float
    p50: float
    gap: float  # goal − P50; positive means short
    probability: float  # share of simulated outcomes reaching the goal
    risk: Risk  # high below 50 %, medium below 80 %, low otherwise


@dataclass(frozen=True)
class Forecast(_ToDict):
    status: Status
    reason: str
    now: datetime
    seed: int
    draws: int
    company: ScopeForecast | None = None
    pipelines: tuple[ScopeForecast, ...] = ()
    sellers: tuple[ScopeForecast, ...] = ()
    goals: tuple[GoalOutlook, ...] = ()
    open_pipeline: OpenPipelineSummary | None = None
    new_leads: NewLeadsSummary | None = None
    closed_months: int = 0
    # Filled by the read service, which knows the stage order and the activities (recommend.py).
    pacing: tuple[Pacing, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    # Whose holidays the pacing's working days leave out (the service's choice).
    calendar: WorkCalendar = WEEKENDS_ONLY


@dataclass(frozen=True)
class BacktestPoint(_ToDict):
    """One forecast made at ``origin`` for ``month``, ``horizon`` months after the origin's
    month, beside the actual and the baselines (None where a baseline cannot be formed)."""

    origin: datetime
    origin_kind: Literal["month_start", "mid_month"]
    horizon: int
    month: date
    actual: float
    p10: float
    p50: float
    p90: float
    last_month: float | None
    same_month_last_year: float | None
    run_rate: float | None


@dataclass(frozen=True)
class BacktestScore(_ToDict):
    origin_kind: Literal["month_start", "mid_month"]
    horizon: int
    method: Literal["model", "last_month", "same_month_last_year", "run_rate"]
    points: int
    wape: float | None  # Σ|actual − forecast| / Σ|actual|
    mape: float | None  # mean |actual − forecast| / actual over months with actual > 0
    coverage: float | None  # model only: share of actuals inside P10–P90


@dataclass(frozen=True)
class Backtest(_ToDict):
    status: Status
    reason: str
    now: datetime
    points: tuple[BacktestPoint, ...] = ()
    scores: tuple[BacktestScore, ...] = ()
    # Plain sentences: whether the model beat the best baseline and whether coverage is in
    # 70–90 %, per horizon, and why a horizon could not be scored.
    notes: tuple[str, ...] = ()


# -- snapshots and their accuracy record -----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot(_ToDict):
    """One month's company forecast as a sync stored it: ``made_on`` is the account-local day
    (one snapshot per day), ``as_of`` the forecast's "now"."""

    made_on: date
    as_of: datetime
    month: date
    revenue: Range
    won_deals: Range
    method: str
    seed: int


@dataclass(frozen=True)
class ScoredSnapshot(_ToDict):
    kind: Literal["before_month", "mid_month"]
    made_on: date
    p10: float
    p50: float
    p90: float
    inside: bool  # P10 ≤ actual ≤ P90
    error: float  # P50 − actual: positive means the forecast was too high
    relative_error: float | None  # error ÷ actual, None when nothing was won


@dataclass(frozen=True)
class ScoredMonth(_ToDict):
    month: date
    actual: float  # won revenue of the month, as sales.revenue of metrics --json
    before_month: ScoredSnapshot | None  # the latest snapshot made before the month began
    mid_month: ScoredSnapshot | None  # the latest made in the month on or before its 15th


@dataclass(frozen=True)
class Accuracy(_ToDict):
    """The last ``months`` closed months that have a snapshot, newest first, and how often their
    actual fell inside the stored range (per kind of snapshot)."""

    now: datetime
    months: tuple[ScoredMonth, ...] = ()
    inside_before_month: int = 0
    scored_before_month: int = 0
    inside_mid_month: int = 0
    scored_mid_month: int = 0


# -- pacing and recommendations --------------------------------------------------------------------


@dataclass(frozen=True)
class Pacing(_ToDict):
    """What a goal asks of the remaining working days of its month (``user_id`` None: the
    company). Working days: Monday to Friday less the public holidays of the forecast's
    ``calendar``, from "now"'s day (counted when a working day: it is not over) to the month's
    end — ``workdays.working_days_left``, the report's count too."""

    month: date
    user_id: int | None
    goal: float
    won_to_date: float
    remaining: float  # goal − won so far (0 when reached)
    working_days_left: int
    revenue_per_day: float | None  # None when no working day is left
    average_ticket: float
    deals_needed: int  # ⌈remaining ÷ average ticket⌉ (0 without a ticket)
    deals_per_day: float | None


RecommendationKey = Literal["close_gap", "largest_drop", "seller_at_risk"]


@dataclass(frozen=True)
class Recommendation(_ToDict):
    """A message key and the numbers it rests on; the words are the reader's (CLI, dashboard),
    per language. ``numbers`` holds ids and amounts only, never text."""

    key: RecommendationKey
    month: date
    user_id: int | None
    numbers: dict[str, float | int | None]
