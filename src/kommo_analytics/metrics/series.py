"""The detail behind the charts and tables of the dashboard: series over time, distributions,
flows and lead lists. Same rules as the six modules (the same scope, periods and as_of), same
shape: each function returns Ibis expressions (nothing runs here) and, where a result needs
reshaping, a pure function does it.

Buckets: the SQL groups by local *day* (every backend can), and :func:`rebucket` folds days into
weeks or months in Python (MySQL/MariaDB cannot truncate to a week).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.metrics.activities import activities_in_period, overdue_at_as_of
from kommo_analytics.metrics.common import (
    Model,
    closed_in_period,
    created_in_period,
    scoped_leads,
    ts,
)
from kommo_analytics.metrics.params import MetricParams

Grain = Literal["day", "week", "month"]

LEAD_LIST_COLUMNS = (
    "lead_id", "name", "pipeline_id", "status_id", "outcome", "responsible_user_id", "price",
    "channel", "utm_source", "utm_medium", "utm_campaign", "created_local", "closed_local",
    "response_hours", "loss_reason",
)  # fmt: skip


def grain_for(p: MetricParams) -> Grain:
    """Days up to about two months, weeks up to about a year, months beyond."""
    if p.days <= 62:
        return "day"
    if p.days <= 370:
        return "week"
    return "month"


def bucket_start(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    if grain == "month":
        return day.replace(day=1)
    return day


def rebucket(frame: pd.DataFrame, grain: Grain, keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """Sum day rows (column ``day``) into ``grain`` buckets (column ``bucket``), per ``keys``."""
    if frame.empty:
        return pd.DataFrame(columns=["bucket", *keys, *(c for c in frame.columns if c != "day")])
    data = frame.copy()
    days = pd.to_datetime(data.pop("day")).dt.date
    data.insert(0, "bucket", [bucket_start(d, grain) for d in days])
    values = [c for c in data.columns if c not in ("bucket", *keys)]
    for column in values:
        data[column] = pd.to_numeric(data[column], errors="coerce").fillna(0)
    out = data.groupby(["bucket", *keys], as_index=False)[values].sum()
    return out.sort_values(["bucket", *keys]).reset_index(drop=True)


# -- over time ---------------------------------------------------------------------------------------


def leads_by_day(m: Model, p: MetricParams) -> ir.Table:
    leads = created_in_period(m, p)
    return leads.group_by(day=leads.created_local.date(), channel=leads.channel).aggregate(
        leads=leads.count()
    )


def sales_by_day(m: Model, p: MetricParams) -> ir.Table:
    closed = closed_in_period(m, p)
    won = closed.outcome == "won"
    return closed.group_by(day=closed.closed_local.date()).aggregate(
        won=won.sum(),
        lost=(~won).sum(),
        revenue=won.ifelse(closed.price.fill_null(0), 0).sum(),
    )


def activities_by_day(m: Model, p: MetricParams) -> ir.Table:
    acts = activities_in_period(m, p)
    return acts.group_by(day=acts.created_local.date(), medium=acts.medium,
                         direction=acts.direction).aggregate(events=acts.count())  # fmt: skip


def activity_heatmap(m: Model, p: MetricParams) -> ir.Table:
    """Calls, messages, e-mails and SMS by local weekday (0 = Monday) and hour."""
    acts = activities_in_period(m, p)
    return acts.group_by(
        weekday=acts.created_local.day_of_week.index(), hour=acts.created_local.hour()
    ).aggregate(events=acts.count())


# -- distributions ----------------------------------------------------------------------------------


def response_hours(m: Model, p: MetricParams) -> ir.Table:
    """Each answered lead's first-response time (hours), for a histogram against the SLA."""
    leads = created_in_period(m, p)
    answered = leads.filter(
        leads.first_response_at.notnull() & (leads.first_response_at <= ts(p.as_of_utc))
    )
    return answered.select("lead_id", "channel", "responsible_user_id", hours="response_hours")


def stage_hours(m: Model, p: MetricParams) -> ir.Table:
    """Finished stays of the period's cohort in the open stages of their pipeline (box plots)."""
    cohort = created_in_period(m, p).select("lead_id", lead_pipeline="pipeline_id")
    stays = m.fact_stage_stays
    stays = stays.filter(stays.left_at.notnull() & (stays.left_at <= ts(p.as_of_utc)))
    joined = stays.join(cohort, "lead_id")
    joined = joined.filter(joined.pipeline_id == joined.lead_pipeline)
    return joined.select("pipeline_id", "status_id", "hours")


def cycle_days(m: Model, p: MetricParams) -> ir.Table:
    closed = closed_in_period(m, p)
    won = closed.filter(closed.outcome == "won")
    return won.select("lead_id", "responsible_user_id", days="cycle_days")


# -- flows, cross tables, lists ---------------------------------------------------------------------


def stage_flows(m: Model, p: MetricParams) -> ir.Table:
    """Moves between stages made by the period's cohort (a Sankey diagram's links)."""
    cohort = created_in_period(m, p).select("lead_id")
    stays = m.fact_stage_stays
    moves = stays.filter(stays.next_status_id.notnull() & (stays.left_at <= ts(p.as_of_utc))).join(
        cohort, "lead_id"
    )
    return moves.group_by(
        ["pipeline_id", "status_id", "next_pipeline_id", "next_status_id"]
    ).aggregate(leads=moves.lead_id.nunique())


def seller_channel(m: Model, p: MetricParams) -> ir.Table:
    """Leads created in the period and those of them won (to date), per seller and channel."""
    leads = created_in_period(m, p)
    won = (leads.outcome == "won") & (leads.closed_at <= ts(p.as_of_utc))
    return leads.group_by(["responsible_user_id", "channel"]).aggregate(
        leads=leads.count(), won=won.sum()
    )


def overdue_tasks(m: Model, p: MetricParams) -> ir.Table:
    """Tasks late at as_of, whatever their due date, the longest overdue first."""
    overdue = overdue_at_as_of(m, p)
    return overdue.select(
        "task_id", "kind", "type_name", "responsible_user_id", "entity_type", "entity_id",
        "lead_id", "complete_till_local",
    ).order_by("complete_till_local")  # fmt: skip


def named(m: Model, leads: ir.Table) -> ir.Table:
    """A lead list with its pipeline, stage and seller named (for people and spreadsheets)."""
    stages = m.dim_stages.select("pipeline_id", "status_id", stage_name="name")
    pipes = m.dim_pipelines.select("pipeline_id", pipeline_name="name")
    users = m.dim_users.select(responsible_user_id="user_id", seller="name")
    out = leads.left_join(stages, ["pipeline_id", "status_id"]).select(leads, stages.stage_name)
    out = out.left_join(pipes, "pipeline_id").select(out, pipes.pipeline_name)
    out = out.left_join(users, "responsible_user_id").select(out, users.seller)
    return out.order_by([ibis.desc("created_local"), ibis.desc("lead_id")])


def lead_list(m: Model, p: MetricParams, basis: Literal["created", "closed", "open"]) -> ir.Table:
    """The leads behind an aggregate, to drill into: created in the period, closed in it, or
    open at as_of (all inside the filters). The caller narrows it further with :func:`narrow`."""
    if basis == "created":
        leads = created_in_period(m, p)
    elif basis == "closed":
        leads = closed_in_period(m, p)
    else:
        leads = scoped_leads(m, p)
        leads = leads.filter(
            (leads.created_at <= ts(p.as_of_utc))
            & (
                (leads.outcome == "open")
                | (leads.closed_at.notnull() & (leads.closed_at > ts(p.as_of_utc)))
            )
        )
    return leads.select(*LEAD_LIST_COLUMNS)


def narrow(leads: ir.Table, **equal: Any) -> ir.Table:
    """Rows of a lead list where each given column equals the value (None = is null)."""
    for column, value in equal.items():
        leads = leads.filter(leads[column].isnull() if value is None else leads[column] == value)
    return leads


def reached_stage(m: Model, p: MetricParams, pipeline_id: int, stage_order: int) -> ir.Table:
    """The cohort leads of a pipeline that reached a stage (the funnel's drill-down)."""
    leads = created_in_period(m, p)
    leads = leads.filter(
        (leads.pipeline_id == pipeline_id)
        & ((leads.max_stage_order >= stage_order) | (leads.ever_won == ibis.literal(True)))
    )
    return leads.select(*LEAD_LIST_COLUMNS)
