"""The revenue forecast and its backtest for an account and a scope.

The forecast itself is pure (``forecast/``: a History and "now" in, ranges out); this module cuts
its History from the model's ``fact_leads`` and ``fact_stage_stays``, its goals from
``input_goals``, and "now" from the scope, all in one consistent read.

Scope filters narrow the History to the leads of the chosen pipelines and sellers (their current
pipeline and responsible user), with every stay of those leads: the forecast of a filtered scope
is the forecast of that part of the business alone. Channels are not a forecast filter.

Goals are those of the metrics (``metrics/forecast.py``): a goal row is always a seller's month
(the import requires a user), the company's goal for a month is the sum of the month's rows, and
a seller filter keeps only those sellers' rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.forecast import Backtest, Forecast, Goal, History, recommend
from kommo_analytics.forecast import accuracy as scoring
from kommo_analytics.forecast import backtest as run_backtest
from kommo_analytics.forecast import forecast as run_forecast
from kommo_analytics.forecast.accuracy import ACCURACY_MONTHS
from kommo_analytics.forecast.backtest import BACKTEST_DRAWS, BACKTEST_MONTHS
from kommo_analytics.forecast.engine import DEFAULT_DRAWS, MONTHS
from kommo_analytics.forecast.result import (
    Accuracy,
    OpenPipelineSummary,
    Pacing,
    Range,
    Recommendation,
    ScoredSnapshot,
    Snapshot,
    StageProbability,
)
from kommo_analytics.kommo.entities import WON_STATUS_ID
from kommo_analytics.model.query import model_table, records, run_all
from kommo_analytics.service import forecast_store
from kommo_analytics.service.account import Account, zone_of
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse.target import Target
from kommo_analytics.workdays import WEEKENDS_ONLY, WorkCalendar

# Re-exported: the CLI and the dashboard name the results through the service, not forecast/.
__all__ = [
    "ACCURACY_MONTHS",
    "BACKTEST_DRAWS",
    "DEFAULT_DRAWS",
    "Accuracy",
    "Backtest",
    "Forecast",
    "ForecastInputs",
    "Labels",
    "Pacing",
    "Range",
    "Recommendation",
    "ScoredSnapshot",
    "accuracy",
    "backtest",
    "forecast",
    "forecast_of",
    "forecast_or_stored",
    "inputs",
    "labels",
    "moment",
]


@dataclass(frozen=True)
class ForecastInputs:
    """What the pure forecast is given: the scope's history, the goals of the months it
    forecasts, and "now" in the account's zone."""

    history: History
    goals: tuple[Goal, ...]
    now: pd.Timestamp
    # For the recommendations: each open stage's place along its pipeline, and each lead's
    # latest call or message.
    stage_order: dict[tuple[int, int], int]
    last_activity: dict[int, pd.Timestamp]
    # Whose public holidays the pacing leaves out (the account's, see service/account.py).
    calendar: WorkCalendar = WEEKENDS_ONLY


@dataclass(frozen=True)
class Labels:
    """Names for the ids a forecast reports, from the model's dimensions."""

    pipelines: dict[int, str]
    stages: dict[tuple[int, int], str]
    stage_order: dict[tuple[int, int], int]
    sellers: dict[int, str]

    def pipeline(self, pipeline_id: int | None) -> str:
        if pipeline_id is None:
            return "—"
        return self.pipelines.get(pipeline_id, f"pipeline {pipeline_id}")

    def stage(self, pipeline_id: int, status_id: int) -> str:
        return self.stages.get((pipeline_id, status_id), f"stage {status_id}")

    def seller(self, user_id: int | None) -> str:
        if user_id is None:
            return "company"
        return self.sellers.get(user_id, f"user {user_id}")

    def open_stages(self, summary: OpenPipelineSummary) -> list[StageProbability]:
        """The stages holding open deals, pipeline by pipeline, each in its pipeline's order
        (a stage the dictionaries no longer list goes last)."""
        return sorted(
            (s for s in summary.stages if s.open_deals),
            key=lambda s: (
                s.pipeline_id,
                self.stage_order.get((s.pipeline_id, s.status_id), 10**6),
                s.status_id,
            ),
        )


def moment(account: Account, scope: Scope, now: datetime) -> pd.Timestamp:
    """The scope's "as of" (a naive time is the account's wall clock), else ``now``, in the
    account's zone."""
    chosen = scope.as_of or now
    if chosen.tzinfo is None:
        chosen = chosen.replace(tzinfo=zone_of(account.timezone))
    return pd.Timestamp(chosen).tz_convert(account.timezone)


def _months(now: pd.Timestamp) -> list[date]:
    first = date(now.year, now.month, 1)
    out = []
    for m in range(MONTHS):
        index = first.year * 12 + first.month - 1 + m
        out.append(date(index // 12, index % 12 + 1, 1))
    return out


def _queries(target: Target, scope: Scope, months: Sequence[date]) -> dict[str, ir.Table]:
    leads = model_table(target, "fact_leads")
    leads = leads.filter(leads.is_deleted == False)  # noqa: E712 (an Ibis expression)
    if scope.pipelines:
        leads = leads.filter(leads.pipeline_id.isin(list(scope.pipelines)))
    sellers = scope.seller_ids()
    if sellers:
        leads = leads.filter(leads.responsible_user_id.isin(list(sellers)))
    stays = model_table(target, "fact_stage_stays")
    stays = stays.filter(stays.lead_id.isin(leads.lead_id))
    acts = model_table(target, "fact_activities")
    acts = acts.filter(acts.lead_id.isin(leads.lead_id))
    stages = model_table(target, "dim_stages")
    stages = stages.filter(stages.stage_order.notnull())
    goals = model_table(target, "input_goals")
    goals = goals.filter(goals.month.isin(list(months)))
    if sellers:
        goals = goals.filter(goals.user_id.isin(list(sellers)))
    return {
        "leads": leads.select(
            "lead_id",
            "pipeline_id",
            user_id=leads.responsible_user_id,
            created_at=leads.created_at,
            closed_at=leads.closed_at,
            status_id=leads.status_id,
            price=leads.price,
        ),
        "stays": stays.select("lead_id", "pipeline_id", "status_id", "entered_at", "left_at"),
        "goals": goals.select("month", "user_id", "revenue_goal"),
        "stages": stages.select("pipeline_id", "status_id", "stage_order"),
        "activity": acts.group_by("lead_id").aggregate(last=acts.created_at.max()),
    }


def _utc(values: pd.Series) -> pd.Series:
    # The model stores UTC instants without a zone (DuckDB may hand them back zoned): either way
    # they are UTC.
    return pd.to_datetime(values, utc=True)


def _history(leads: pd.DataFrame, stays: pd.DataFrame, timezone: str) -> History:
    leads = leads.astype({"lead_id": "int64", "pipeline_id": "int64"})
    leads["status_id"] = leads["status_id"].astype("Int64")
    leads["price"] = pd.to_numeric(leads["price"], errors="coerce")
    stays = stays.astype({"lead_id": "int64", "pipeline_id": "int64", "status_id": "int64"})
    for frame, columns in (
        (leads, ("created_at", "closed_at")),
        (stays, ("entered_at", "left_at")),
    ):
        for column in columns:
            frame[column] = _utc(frame[column])
    return History(leads, stays, timezone)


def _goals(frame: pd.DataFrame) -> tuple[Goal, ...]:
    by_month: dict[date, list[tuple[int, float]]] = {}
    for r in records(frame):
        month = date.fromisoformat(str(r["month"])[:10])
        by_month.setdefault(month, []).append((int(r["user_id"]), float(r["revenue_goal"])))
    out: list[Goal] = []
    for month in sorted(by_month):
        rows = sorted(by_month[month])
        out.append(Goal(month, sum(amount for _, amount in rows)))
        out.extend(Goal(month, amount, user_id) for user_id, amount in rows)
    return tuple(out)


def inputs(
    target: Target, account: Account, scope: Scope, *, now: datetime, write: bool = False
) -> ForecastInputs:
    """The scope's history, goals and "now", read in one consistent read (``write``: on the
    sync's own connection, before it publishes)."""
    at = moment(account, scope, now)
    results = run_all(target, _queries(target, scope, _months(at)), write=write)
    history = _history(results["leads"], results["stays"], account.timezone)
    stage_order = {
        (int(r["pipeline_id"]), int(r["status_id"])): int(r["stage_order"])
        for r in records(results["stages"])
    }
    activity = results["activity"]
    last = dict(
        zip(
            activity["lead_id"].astype("int64"),
            _utc(activity["last"]),
            strict=True,
        )
    )
    return ForecastInputs(
        history, _goals(results["goals"]), at, stage_order, last, account.calendar
    )


def forecast(
    target: Target,
    account: Account,
    scope: Scope,
    *,
    now: datetime,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> Forecast:
    """P10/P50/P90 for the month of the scope's "as of" (else ``now``) and the two after it, with
    the goals' pacing and the recommendations; or the statement of what history is missing."""
    return forecast_of(inputs(target, account, scope, now=now), seed=seed, draws=draws)


def forecast_or_stored(
    target: Target,
    account: Account,
    scope: Scope,
    *,
    now: datetime,
    data_dir: Path,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> Forecast:
    """:func:`forecast`, or the same forecast as the last sync kept it in ``data_dir`` when it
    is the one this scope would get today (the company's, from this model and these goals: see
    ``forecast_store.py``) — reading only the goals instead of every lead and stage stay."""
    if forecast_store.company_scope(scope):
        at = moment(account, scope, now)
        goals = goals_of(target, scope, at)
        stored = forecast_store.load(
            data_dir, account, scope, at.to_pydatetime(), goals, seed=seed, draws=draws
        )
        if stored is not None:
            return stored
    return forecast(target, account, scope, now=now, seed=seed, draws=draws)


def goals_of(target: Target, scope: Scope, at: pd.Timestamp) -> tuple[Goal, ...]:
    """The goals of the months a forecast made at ``at`` covers (what :func:`inputs` reads)."""
    query = _queries(target, scope, _months(at))["goals"]
    return _goals(run_all(target, {"goals": query})["goals"])


def forecast_of(given: ForecastInputs, *, seed: int = 0, draws: int = DEFAULT_DRAWS) -> Forecast:
    """The forecast of read inputs, completed with pacing and recommendations."""
    result = run_forecast(given.history, now=given.now, goals=given.goals, seed=seed, draws=draws)
    return replace(
        result,
        calendar=given.calendar,
        pacing=recommend.pacing(result, given.now, given.calendar),
        recommendations=recommend.recommendations(
            result,
            given.history,
            now=given.now,
            stage_order=given.stage_order,
            last_activity=given.last_activity,
        ),
    )


def backtest(
    target: Target,
    account: Account,
    scope: Scope,
    *,
    now: datetime,
    seed: int = 0,
    draws: int = BACKTEST_DRAWS,
    months: int = BACKTEST_MONTHS,
) -> Backtest:
    """The forecast made at the start and the middle of each of the last ``months`` closed
    months, scored against what happened and against the three naive guesses."""
    given = inputs(target, account, scope, now=now)
    return run_backtest(given.history, now=given.now, months=months, seed=seed, draws=draws)


def labels(target: Target) -> Labels:
    """Pipeline, stage and seller names of the built model."""
    pipelines = model_table(target, "dim_pipelines")
    stages = model_table(target, "dim_stages")
    users = model_table(target, "dim_users")
    results = run_all(
        target,
        {
            "pipelines": pipelines.select("pipeline_id", "name"),
            "stages": stages.select("pipeline_id", "status_id", "name", "stage_order"),
            "users": users.select("user_id", "name"),
        },
    )
    stage_rows = records(results["stages"])
    return Labels(
        pipelines={int(r["pipeline_id"]): str(r["name"]) for r in records(results["pipelines"])},
        stages={(int(r["pipeline_id"]), int(r["status_id"])): str(r["name"]) for r in stage_rows},
        stage_order={
            (int(r["pipeline_id"]), int(r["status_id"])): int(r["stage_order"])
            for r in stage_rows
            if pd.notna(r["stage_order"])
        },
        sellers={
            int(r["user_id"]): str(r["name"] or f"user {r['user_id']}")
            for r in records(results["users"])
        },
    )


def _snapshot_rows(frame: pd.DataFrame) -> list[Snapshot]:
    out = []
    for r in records(frame):
        out.append(
            Snapshot(
                made_on=date.fromisoformat(str(r["made_on"])[:10]),
                as_of=_utc(pd.Series([r["as_of"]])).iloc[0].to_pydatetime(),
                month=date.fromisoformat(str(r["month"])[:10]),
                revenue=Range(
                    float(r["revenue_p10"]),
                    float(r["revenue_p50"]),
                    float(r["revenue_p90"]),
                    float("nan"),
                ),
                won_deals=Range(
                    float(r["won_deals_p10"]),
                    float(r["won_deals_p50"]),
                    float(r["won_deals_p90"]),
                    float("nan"),
                ),
                method=str(r["method"]),
                seed=int(r["seed"]),
            )
        )
    return out


def accuracy(
    target: Target, account: Account, *, now: datetime, months: int = ACCURACY_MONTHS
) -> Accuracy:
    """The company's stored snapshots of the last ``months`` closed months, scored against the
    revenue won in them (docs/forecast.md, "The accuracy record")."""
    at = moment(account, Scope(), now)
    queries = _queries(target, Scope(), [])
    # The score reads only the revenue won per month (``monthly_revenue``: the won leads as the
    # model records them, no stay): so only those leads are read, not the whole account.
    leads = queries["leads"]
    won = leads.filter((leads.status_id == WON_STATUS_ID) & leads.closed_at.notnull())
    stays = queries["stays"].limit(0)
    stored = model_table(target, "forecast_snapshots")
    results = run_all(target, {"leads": won, "stays": stays, "snapshots": stored})
    history = _history(results["leads"], results["stays"], account.timezone)
    return scoring.accuracy(_snapshot_rows(results["snapshots"]), history, now=at, months=months)
