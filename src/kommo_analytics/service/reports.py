"""Metric reports, chart series and the leads behind an aggregate, for an account and a scope.

The metric definitions (``metrics/``) are pure; this module supplies what they take as
parameters — the model's location, the account's time zone, currency and channels, "now" — and
runs their queries on the warehouse.

The report's ``forecast`` section gets the forecast's range here (:func:`with_range`): the
metrics cannot run the forecast model (``forecast/``), the service can. It is the forecast of
``kommo-analytics forecast`` at the report's as_of, under its pipeline and seller filters, with
the seed fixed so the report is reproducible.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import pandas as pd

from kommo_analytics.errors import ConfigError
from kommo_analytics.forecast.accuracy import method_of
from kommo_analytics.metrics import report as metric_report
from kommo_analytics.metrics import series as metric_series
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import Report
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified, model_schema
from kommo_analytics.service import _sql, forecasts
from kommo_analytics.service.account import Account
from kommo_analytics.service.forecasts import Forecast
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse.target import Kind, Target

DEFAULT_DAYS: Final = 30  # the period when none is given: the last 30 days up to today
TABLE_COLUMNS: Final = {name: table.ibis_schema for name, table in MODEL_TABLES.items()}
DRILL_LIMIT: Final = 5000  # leads listed under one aggregate (the newest first)
SECTIONS: Final = tuple(metric_report.SECTIONS)
FORECAST_SEED: Final = 0  # the same report twice gives the same range
# Below this many sellers a median is one seller's own figure (or the mean of two, from which a
# seller subtracts their own): a seller limited to their own data is not shown it.
TEAM_MEDIAN_MIN_SELLERS: Final = 3
TEAM_MEDIAN_FIELDS: Final = (
    "leads", "won", "lost", "win_rate_pct", "revenue", "avg_ticket", "response_time_avg_hours",
    "tasks_completed", "calls", "goal", "attainment_pct",
)  # fmt: skip


def params(
    account: Account, scope: Scope, *, now: datetime, sla_hours: float = 2.0
) -> MetricParams:
    """The scope as the metrics take it, with the defaults people expect: the last 30 days up
    to today, "as of" = now. A channel the account's rules do not have is a mistake to say."""
    moment = scope.as_of or now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(account.timezone))
    # Shown as the account's wall-clock time (the same instant).
    moment = moment.astimezone(ZoneInfo(account.timezone))
    end: date = scope.end or account.today(moment)
    start: date = scope.start or end - timedelta(days=DEFAULT_DAYS - 1)
    unknown = sorted(set(scope.channels) - set(account.channels))
    if unknown:
        raise ConfigError(
            f"unknown channel {', '.join(unknown)}",
            hint=f"choose from: {', '.join(account.channels)}",
        )
    return MetricParams(
        start=start,
        end=end,
        as_of=moment,
        timezone=account.timezone,
        pipelines=tuple(scope.pipelines),
        sellers=tuple(scope.seller_ids()),
        channels=tuple(scope.channels),
        sla_hours=sla_hours,
        calendar=account.calendar,
    )


def report(
    target: Target,
    account: Account,
    p: MetricParams,
    sections: Sequence[str] | None = None,
    *,
    forecast_range: bool = True,
) -> Report:
    """The metric report, or only the given sections of it (see ``SECTIONS``; the others'
    queries are not run and are None). ``metrics --json`` is its ``to_json_dict()``.

    ``forecast_range=False`` leaves the forecast section's facts without the simulated range:
    for a caller that reads the range from :func:`forecasts.forecast` itself (the dashboard
    caches that once for every page), so the simulation does not run twice."""
    document = metric_report.compute(
        _model(target),
        p,
        lambda queries: run_all(target, queries),
        currency=account.currency,
        channels=account.channels,
        info=account.info,
        sections=sections,
    )
    if forecast_range and "forecast" in document:
        scope = Scope(as_of=p.as_of, pipelines=p.pipelines, sellers=p.sellers)
        result = forecasts.forecast(target, account, scope, now=p.as_of, seed=FORECAST_SEED)
        document["forecast"] = with_range(document["forecast"], result)
    return Report.from_dict(document)


@dataclass(frozen=True)
class TeamMedian:
    """The median of every seller's ranking figures (``TEAM_MEDIAN_FIELDS``; None where no
    seller has the figure), over ``sellers`` sellers: what a viewer limited to their own data
    compares their row with, without any other seller's name or row."""

    sellers: int
    values: dict[str, float | None]


def team_median(
    target: Target, account: Account, scope: Scope, *, now: datetime, sla_hours: float = 2.0
) -> TeamMedian | None:
    """The team's median for the scope's period, pipelines and channels, over every seller —
    whatever the viewer's reach, which is why only the medians leave this function. None when
    the team has fewer than ``TEAM_MEDIAN_MIN_SELLERS`` sellers."""
    everyone = replace(scope, sellers=(), allowed_sellers=None)
    p = params(account, everyone, now=now, sla_hours=sla_hours)
    rows = report(target, account, p, ("sellers",), forecast_range=False).sellers or []
    rows = [r for r in rows if r.user_id]  # "nobody responsible" is not a seller
    if len(rows) < TEAM_MEDIAN_MIN_SELLERS:
        return None
    values: dict[str, float | None] = {}
    for name in TEAM_MEDIAN_FIELDS:
        known = [float(v) for r in rows if (v := getattr(r, name)) is not None]
        values[name] = statistics.median(known) if known else None
    return TeamMedian(sellers=len(rows), values=values)


def with_range(section: dict[str, Any], result: Forecast) -> dict[str, Any]:
    """The report's ``forecast`` section (``metrics/forecast.py``) with the forecast's status,
    its reason as the note, and the company's range for each month; its other keys unchanged."""
    goals = {g.month: g for g in result.goals if g.user_id is None}
    months = result.company.months if result.company is not None else ()
    rows = []
    for m in months:
        goal = goals.get(m.month)
        rows.append(
            {
                "month": m.month.isoformat()[:7],
                "revenue_p10": float(m.revenue.p10),
                "revenue_p50": float(m.revenue.p50),
                "revenue_p90": float(m.revenue.p90),
                "won_deals_p10": float(m.won_deals.p10),
                "won_deals_p50": float(m.won_deals.p50),
                "won_deals_p90": float(m.won_deals.p90),
                "revenue_to_date": float(m.won_to_date),
                "goal": goal.goal if goal is not None else None,
                "goal_probability_pct": goal.probability * 100 if goal is not None else None,
                "risk": goal.risk if goal is not None else None,
            }
        )
    return {
        **section,
        "status": result.status,
        "note": result.reason,
        "months": rows,
        "method": method_of(result),
        "seed": result.seed,
    }


def series_function(name: str) -> Callable[[Model, MetricParams], Any]:
    """A chart query of :mod:`kommo_analytics.metrics.series` by name: any public function of
    it that takes (model, params)."""
    function = getattr(metric_series, name, None)
    if name.startswith("_") or not callable(function):
        raise KeyError(f"no series named {name!r}")
    return function  # type: ignore[no-any-return]


def series(target: Target, p: MetricParams, names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Several chart series by name, on one connection (one consistent read)."""
    model = _model(target)
    return run_all(target, {name: series_function(name)(model, p) for name in names})


def stage_times(target: Target, p: MetricParams) -> pd.DataFrame:
    """The funnel's time in stage, median and 80th percentile (:func:`metric_series.stage_times`'
    columns), counted in the database: one aggregate where it has a quantile function, else
    from ranked rows."""
    model = _model(target)
    if target.kind is Kind.MYSQL:
        ranks = run_all(target, {"ranks": metric_series.stage_hours_ranks(model, p)})["ranks"]
        return metric_series.stage_times(ranks)
    times = run_all(target, {"times": metric_series.stage_hours_quantiles(model, p)})["times"]
    return times.astype({"n": "int64", "median": float, "p80": float})


def lead_list(
    target: Target,
    p: MetricParams,
    basis: str,
    where: Sequence[tuple[str, Any]] = (),
    reached: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The leads behind an aggregate (a drill-down), newest first: created or closed in the
    period, or open now, narrowed by ``where`` (column, value) pairs; or those of a pipeline
    that reached a stage (``reached`` = (pipeline id, stage order))."""
    model = _model(target)
    if reached is not None:
        expr = metric_series.reached_stage(model, p, *reached)
    else:
        expr = metric_series.narrow(metric_series.lead_list(model, p, basis), **dict(where))  # type: ignore[arg-type]
    leads = metric_series.named(model, expr).limit(DRILL_LIMIT)
    return run_all(target, {"leads": leads})["leads"]


def model_stamp(target: Target) -> str:
    """When the model was built and how many costs and goals were imported ("" before a
    build): a rebuild or an import changes it without a sync, so it keys cached numbers."""
    rows = _sql.rows_if_present(
        target,
        # SQL text: table names the code qualifies; no user value.
        f"SELECT value FROM {model_qualified(target, 'model_info')} WHERE item = 'built_at' "  # nosec B608
        f"UNION ALL SELECT CAST(COUNT(*) AS CHAR(20)) FROM "
        f"{model_qualified(target, 'input_costs')} "
        f"UNION ALL SELECT CAST(COUNT(*) AS CHAR(20)) FROM "
        f"{model_qualified(target, 'input_goals')}",
    )
    return "|".join(str(r[0]) for r in rows or [])


def _model(target: Target) -> Model:
    return Model(TABLE_COLUMNS, model_schema(target))
