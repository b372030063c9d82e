"""The triggers: each a pure function of gathered facts to zero or more conditions.

No I/O and no clock here: :mod:`.gather` reads the facts through the read service and passes
"now". Each trigger's rule is described for people in docs/operations.md ("Alerts").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Protocol

import numpy as np

from kommo_analytics.automation.alerts.conditions import (
    Condition,
    Level,
    Line,
    Moment,
    Money,
    Percent,
)
from kommo_analytics.service.health_checks import Check
from kommo_analytics.service.health_checks import Level as CheckLevel
from kommo_analytics.service.watch import StageWatch

# --- sync failed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFact:
    """One row of ``sync_runs`` as :func:`service.health.runs` reads it (newest first)."""

    status: str
    started_at: datetime | None
    error: str | None = None


def sync_failed(runs: Sequence[RunFact]) -> list[Condition]:
    """The newest finished run failed (critical) or was killed (warning). A run in progress
    neither raises nor clears the condition: the one before it decides until it ends."""
    finished = [r for r in runs if r.status != "running"]
    if not finished or finished[0].status == "ok":
        return []
    last = finished[0]
    values: dict[str, str | Moment] = {
        "error": last.error or last.status,
        "at": Moment(last.started_at) if last.started_at is not None else "?",
    }
    interrupted = last.status == "interrupted"
    line = Line(
        "alert.sync_failed.interrupted" if interrupted else "alert.sync_failed.failed", values
    )
    return [
        Condition(
            key="sync_failed",
            trigger="sync_failed",
            level=Level.WARNING if interrupted else Level.CRITICAL,
            title=Line("alert.sync_failed.title"),
            lines=(line,),
        )
    ]


# --- data stale and token, from the health checks -------------------------------------------


def _level(check: Check) -> Level:
    return Level.CRITICAL if check.level is CheckLevel.CRITICAL else Level.WARNING


def data_stale(checks: Sequence[Check]) -> list[Condition]:
    """Streams read longer ago than the health targets (HEALTH_STALE_*_HOURS), and a warehouse
    that cannot be read at all: one condition, as stale as its stalest stream."""
    found = [
        c for c in checks if c.level is not CheckLevel.OK and c.check in ("freshness", "warehouse")
    ]
    if not found:
        return []
    level = max((_level(c) for c in found), key=lambda x: x.rank)
    lines = tuple(Line(c.key, dict(c.values), subject=c.subject) for c in found)
    return [Condition("data_stale", "data_stale", level, Line("alert.data_stale.title"), lines)]


def token_expiring(check: Check | None) -> list[Condition]:
    """The Kommo credential expires within the health check's 14 days, has expired, or is
    missing."""
    if check is None or check.level is CheckLevel.OK:
        return []
    return [
        Condition(
            "token_expiring",
            "token_expiring",
            _level(check),
            Line("alert.token_expiring.title"),
            (Line(check.key, dict(check.values)),),
        )
    ]


# --- data quality ------------------------------------------------------------------------------


class QualityFailure(Protocol):
    """A failing error-level rule of the data-quality checks (service/quality.py)."""

    @property
    def rule(self) -> str: ...

    @property
    def failing(self) -> int: ...

    @property
    def checked(self) -> int: ...


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    failing: int
    checked: int


def quality_errors(errors: Sequence[QualityFailure] | None) -> list[Condition]:
    """One condition per error-level rule failing in the latest quality run (None: no run, or
    the quality checks are not installed)."""
    if not errors:
        return []
    found = []
    for e in sorted(errors, key=lambda e: e.rule):
        share = e.failing / e.checked if e.checked else 1.0
        found.append(
            Condition(
                f"quality_errors:{e.rule}",
                "quality_errors",
                Level.WARNING,
                Line("alert.quality_errors.title", {"rule": e.rule}),
                (
                    Line(
                        "alert.quality_errors.line",
                        {
                            "rule": e.rule,
                            "failing": e.failing,
                            "checked": e.checked,
                            "share": Percent(share),
                        },
                    ),
                ),
            )
        )
    return found


# --- goal at risk ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalFact:
    """The company's goal of the current month as the forecast judged it."""

    month: date
    goal: float
    p50: float
    probability: float
    risk: str  # high, medium, low (forecast/simulate.py)
    currency: str | None


def goal_at_risk(goal: GoalFact | None) -> list[Condition]:
    """The forecast gives the month's company goal under 50 % (its "high" risk). Nothing when
    no goal was imported for the month."""
    if goal is None or goal.risk != "high":
        return []
    month = f"{goal.month:%Y-%m}"
    return [
        Condition(
            f"goal_at_risk:{month}",
            "goal_at_risk",
            Level.WARNING,
            Line("alert.goal_at_risk.title", {"month": month}),
            (
                Line(
                    "alert.goal_at_risk.line",
                    {
                        "month": month,
                        "goal": Money(goal.goal, goal.currency),
                        "p50": Money(goal.p50, goal.currency),
                        "probability": Percent(goal.probability),
                    },
                ),
            ),
        )
    ]


# --- deals stuck in a stage -----------------------------------------------------------------

# A stage's usual time needs this many closed stays; fewer would make the 80th percentile the
# second-longest of a handful.
MIN_STAGE_SAMPLES: Final = 20
STUCK_PERCENTILE: Final = 80
STUCK_LINES_SHOWN: Final = 15


def stage_thresholds(
    watch: StageWatch, min_samples: int = MIN_STAGE_SAMPLES
) -> dict[tuple[int, int], float]:
    """Each stage's 80th percentile of hours in stage over its closed stays (linear
    interpolation between the closest ranks), for stages with ``min_samples`` of them."""
    return {
        (s.pipeline_id, s.status_id): float(np.percentile(s.hours, STUCK_PERCENTILE))
        for s in watch.stages
        if len(s.hours) >= min_samples
    }


def stuck_deals(watch: StageWatch, min_samples: int = MIN_STAGE_SAMPLES) -> list[Condition]:
    """Per seller, one digest of their open deals that have sat in their stage longer than 80 %
    of the stage's past stays did, longest over first."""
    limits = stage_thresholds(watch, min_samples)
    by_seller: dict[int | None, list[tuple[float, Line]]] = {}
    names: dict[int | None, str] = {}
    for stay in watch.open_stays:
        limit = limits.get((stay.pipeline_id, stay.status_id))
        if limit is None or stay.hours <= limit:
            continue
        names[stay.user_id] = stay.seller
        line = Line(
            "alert.stuck_deals.line",
            {
                "lead": stay.lead_name,
                "lead_id": stay.lead_id,
                "stage": stay.stage,
                "pipeline": stay.pipeline,
                "days": round(stay.hours / 24, 1),
                "usual": round(limit / 24, 1),
            },
        )
        by_seller.setdefault(stay.user_id, []).append((stay.hours / limit, line))
    found = []
    for user_id in sorted(by_seller, key=lambda u: (u is None, u or 0)):
        deals = sorted(by_seller[user_id], key=lambda pair: -pair[0])
        lines = [line for _, line in deals[:STUCK_LINES_SHOWN]]
        if len(deals) > STUCK_LINES_SHOWN:
            lines.append(Line("alert.stuck_deals.more", {"count": len(deals) - STUCK_LINES_SHOWN}))
        found.append(
            Condition(
                f"stuck_deals:{user_id if user_id is not None else 'none'}",
                "stuck_deals",
                Level.WARNING,
                Line("alert.stuck_deals.title", {"seller": names[user_id], "count": len(deals)}),
                tuple(lines),
            )
        )
    return found


# --- a channel's daily leads ---------------------------------------------------------------

LEAD_WINDOW_DAYS: Final = 28
MIN_COMPARABLE_DAYS: Final = 6
MAD_SCALE: Final = 1.4826  # MAD × this estimates the standard deviation of normal data
WIDTH: Final = 3.0


@dataclass(frozen=True)
class LeadRange:
    median: float
    low: float
    high: float


def lead_range(counts: Sequence[int]) -> LeadRange:
    """median ± 3 × spread, the spread being the scaled median absolute deviation but never
    less than √median (the spread of a Poisson count: a quiet channel's 2-to-5 swings are
    noise, not news). The low end is not below zero."""
    values = np.asarray(counts, dtype=float)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    spread = max(MAD_SCALE * mad, math.sqrt(median))
    return LeadRange(median, max(0.0, median - WIDTH * spread), median + WIDTH * spread)


def lead_volume(
    days: Mapping[str, Mapping[date, int]],
    last_day: date,
    is_working_day: Callable[[date], bool],
    min_daily: float,
) -> list[Condition]:
    """Each channel's leads on ``last_day`` (the last complete day) against the previous 28 days
    of the same kind — working days against working days, weekends and holidays against
    their like — for channels whose median comparable day has ``min_daily`` leads or more."""
    kind = is_working_day(last_day)
    window = [last_day - timedelta(days=n) for n in range(1, LEAD_WINDOW_DAYS + 1)]
    comparable = [d for d in window if is_working_day(d) == kind]
    if len(comparable) < MIN_COMPARABLE_DAYS:
        return []
    found = []
    for channel in sorted(days):
        per_day = days[channel]
        bounds = lead_range([per_day.get(d, 0) for d in comparable])
        if bounds.median < min_daily:
            continue
        count = per_day.get(last_day, 0)
        if bounds.low <= count <= bounds.high:
            continue
        direction = "low" if count < bounds.low else "high"
        found.append(
            Condition(
                f"lead_volume:{channel}",
                "lead_volume",
                Level.WARNING,
                Line("alert.lead_volume.title", {"channel": channel}),
                (
                    Line(
                        f"alert.lead_volume.{direction}",
                        {
                            "channel": channel,
                            "day": f"{last_day:%Y-%m-%d}",
                            "count": count,
                            "median": round(bounds.median, 1),
                            "low": round(bounds.low, 1),
                            "high": round(bounds.high, 1),
                            "days": len(comparable),
                        },
                    ),
                ),
            )
        )
    return found
