"""The detail behind the charts and tables of the dashboard: series over time, distributions,
flows and lead lists. Same rules as the six modules (the same scope, periods and as_of), same
shape: each function returns Ibis expressions (nothing runs here) and, where a result needs
reshaping, a pure function does it.

Buckets: the SQL groups by local *day* (every backend can), and :func:`rebucket` folds days into
weeks or months in Python (MySQL/MariaDB cannot truncate to a week).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any, Final, Literal

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
    """Each answered lead's first-response time (hours)."""
    leads = created_in_period(m, p)
    answered = leads.filter(
        leads.first_response_at.notnull() & (leads.first_response_at <= ts(p.as_of_utc))
    )
    return answered.select("lead_id", "channel", "responsible_user_id", hours="response_hours")


# Where a sales team reads its first-response times: within 5 minutes (the lead is still on the
# site), an hour, two hours, a working day. Upper edges in hours; the SLA joins them.
RESPONSE_BUCKET_EDGES: Final = (5 / 60, 1.0, 2.0, 24.0)
NO_RESPONSE: Final = -1  # the bucket of the leads not answered (yet, at as_of)


def response_edges(sla_hours: float) -> tuple[float, ...]:
    """The buckets' upper edges with the SLA among them, so that the buckets up to the SLA's own
    hold exactly the leads ``leads.response_time.within_sla_pct`` counts."""
    return tuple(sorted({*RESPONSE_BUCKET_EDGES, float(sla_hours)}))


def response_buckets(m: Model, p: MetricParams) -> ir.Table:
    """Leads created in the period per first-response bucket: ``bucket`` k (from 0) holds the
    answers after edge k−1 and at most edge k hours of :func:`response_edges`, k = the number of
    edges the answers later than the last edge, :data:`NO_RESPONSE` the leads not answered by
    as_of. The same leads and the same "answered" as module 1's response cards, so the buckets
    add up to ``leads.total`` and the last one is ``without_response``."""
    leads = created_in_period(m, p)
    answered = leads.first_response_at.notnull() & (leads.first_response_at <= ts(p.as_of_utc))
    edges = response_edges(p.sla_hours)
    hours = leads.response_hours
    # An answered lead without hours (none by the model's rules) falls past the last edge, as it
    # does not count as answered within the SLA either.
    bucket = ibis.cases(*((hours <= edge, i) for i, edge in enumerate(edges)), else_=len(edges))
    tagged = leads.mutate(bucket=answered.ifelse(bucket, NO_RESPONSE))
    return tagged.group_by("bucket").aggregate(leads=tagged.count())


def response_bucket_table(rows: pd.DataFrame, sla_hours: float) -> pd.DataFrame:
    """Every bucket of :func:`response_buckets`' rows, in reading order (the fastest first, no
    response last), empty ones as 0: ``bucket``, its hours ``low`` (exclusive) and ``high``
    (inclusive; None where open), ``leads``, and ``within_sla`` (the bucket counts towards the
    SLA)."""
    edges = response_edges(sla_hours)
    counts = {int(b): int(n) for b, n in zip(rows["bucket"], rows["leads"], strict=True)}
    order = [*range(len(edges) + 1), NO_RESPONSE]
    lows: list[float | None] = [None, *edges, None]
    highs: list[float | None] = [*edges, None, None]
    return pd.DataFrame(
        {
            "bucket": order,
            "low": pd.Series(lows, dtype=object),  # object: an open end stays None, not NaN
            "high": pd.Series(highs, dtype=object),
            "leads": [counts.get(b, 0) for b in order],
            "within_sla": [b != NO_RESPONSE and b <= edges.index(float(sla_hours)) for b in order],
        }
    )


def stage_hours(m: Model, p: MetricParams) -> ir.Table:
    """Finished stays of the period's cohort in the open stages of their pipeline: the stays
    ``funnel[].stages[].median_hours_in_stage`` is taken over."""
    cohort = created_in_period(m, p).select("lead_id", lead_pipeline="pipeline_id")
    stays = m.fact_stage_stays
    stays = stays.filter(stays.left_at.notnull() & (stays.left_at <= ts(p.as_of_utc)))
    joined = stays.join(cohort, "lead_id")
    joined = joined.filter(joined.pipeline_id == joined.lead_pipeline)
    return joined.select("pipeline_id", "status_id", "hours")


# The time-in-stage chart's two numbers: the median (the funnel report's own) and the 80th
# percentile — "four leads in five leave within" — interpolated linearly between ranks, as
# numpy's default, so the median is the mean of the two middle stays, as the report's is.
STAGE_TIME_QUANTILES: Final = {"median": 0.5, "p80": 0.8}


def _stays_with_hours(m: Model, p: MetricParams) -> ir.Table:
    stays = stage_hours(m, p)
    return stays.filter(stays.hours.notnull())


def stage_hours_ranks(m: Model, p: MetricParams) -> ir.Table:
    """Of :func:`stage_hours`' stays, only the few each stage's quantiles need: the two either
    side of each, with their rank (``rn``, from 0) and the stage's count (``n``). The database
    ranks; at most four rows a stage reach Python, however many stays the period holds."""
    stays = _stays_with_hours(m, p)
    groups = [stays.pipeline_id, stays.status_id]
    ranked = stays.mutate(
        rn=ibis.row_number().over(ibis.window(group_by=groups, order_by=stays.hours)),
        n=stays.hours.count().over(ibis.window(group_by=groups)),
    )
    wanted = ibis.literal(False)
    for q in STAGE_TIME_QUANTILES.values():
        position = (ranked.n - 1) * q
        wanted = wanted | (ranked.rn == position.floor()) | (ranked.rn == position.ceil())
    return ranked.filter(wanted).select("pipeline_id", "status_id", "n", "rn", "hours")


def stage_hours_quantiles(m: Model, p: MetricParams) -> ir.Table:
    """Each stage's count, median and 80th percentile in one aggregate, the columns of
    :func:`stage_times`: with the database's own linear quantiles (DuckDB's ``quantile_cont``,
    PostgreSQL's ``percentile_cont``) — several times faster than ranking every stay, but
    MySQL/MariaDB have no quantile aggregate: there :func:`stage_hours_ranks` does it."""
    stays = _stays_with_hours(m, p)
    return stays.group_by(["pipeline_id", "status_id"]).aggregate(
        n=stays.count(),
        **{name: stays.hours.quantile(q) for name, q in STAGE_TIME_QUANTILES.items()},
    )


def stage_times(ranks: pd.DataFrame) -> pd.DataFrame:
    """Each stage's ``pipeline_id``, ``status_id``, ``n`` and the hours ``median`` and ``p80``,
    from :func:`stage_hours_ranks`' rows."""
    columns = ["pipeline_id", "status_id", "n", *STAGE_TIME_QUANTILES]
    rows = []
    for (pipeline_id, status_id), group in ranks.groupby(["pipeline_id", "status_id"]):
        n = int(group["n"].iloc[0])
        quantiles = (rank_quantile(group, q) for q in STAGE_TIME_QUANTILES.values())
        rows.append([pipeline_id, status_id, n, *quantiles])
    return pd.DataFrame(rows, columns=columns)


def rank_quantile(ranks: pd.DataFrame, q: float) -> float:
    """The ``q`` quantile (linear between ranks, as pandas' and numpy's default) from ranked
    rows holding the two ranks either side of it; ``ranks`` holds one group."""
    n = int(ranks["n"].iloc[0])
    at = dict(zip(ranks["rn"].astype(int), ranks["hours"].astype(float), strict=True))
    position = (n - 1) * q
    below, above = math.floor(position), math.ceil(position)
    return at[below] + (at[above] - at[below]) * (position - below)


def cycle_days(m: Model, p: MetricParams) -> ir.Table:
    closed = closed_in_period(m, p)
    won = closed.filter(closed.outcome == "won")
    return won.select("lead_id", "responsible_user_id", days="cycle_days")


# -- flows, cross tables, lists ---------------------------------------------------------------------


def stage_flows(m: Model, p: MetricParams) -> ir.Table:
    """Moves between stages made by the period's cohort: distinct leads per move."""
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
        "task_id", "kind", "task_type_id", "type_name", "responsible_user_id", "entity_type",
        "entity_id", "lead_id", "complete_till_local",
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


# -- per seller ---------------------------------------------------------------------------------------

ACTIVITY_BY_SELLER_COLUMNS = (
    "tasks_due", "tasks_completed", "tasks_on_time", "overdue_in_period", "follow_ups_due",
    "follow_ups_completed", "meetings_due", "meetings_held", "overdue", "calls_out", "calls_in",
    "call_seconds", "messages_out", "messages_in", "emails_out", "emails_in", "sms_out", "sms_in",
)  # fmt: skip


def activity_by_seller(m: Model, p: MetricParams) -> ir.Table:
    """Module 3 per seller (``user_id``): tasks due in the period by kind (by the task's
    responsible user), tasks overdue at as_of whatever their due date, and calls, messages,
    e-mails and SMS by direction with call seconds (by their human author), credited as
    :func:`kommo_analytics.metrics.activities.per_seller` credits them.

    The three parts are unioned and summed rather than outer-joined: MySQL/MariaDB have no FULL
    OUTER JOIN, and a seller may appear in any one part alone."""
    # Imported here because this function was appended below the module's imports.
    from kommo_analytics.metrics.activities import tasks_due

    def part(table: ir.Table, user: str, rows: str | None = None, **sums: ir.Value) -> ir.Table:
        """One part, every column present (0 where the part has nothing to say); ``rows``
        names the column that counts the part's rows."""
        table = table.filter(table[user].notnull())
        aggregates = {name: value.sum() for name, value in sums.items()}
        if rows is not None:
            aggregates[rows] = table.count()
        agg = table.group_by(user_id=table[user]).aggregate(**aggregates)
        columns = {
            name: (agg[name].fill_null(0) if name in aggregates else ibis.literal(0)).cast(
                "float64" if name == "call_seconds" else "int64"
            )
            for name in ACTIVITY_BY_SELLER_COLUMNS
        }
        return agg.select(user_id=agg.user_id.cast("int64"), **columns)

    tasks = tasks_due(m, p)
    follow_up, meeting = tasks.kind == "follow_up", tasks.kind == "meeting"
    due = part(
        tasks, "responsible_user_id", "tasks_due",
        tasks_completed=tasks.done.cast("int64"),
        tasks_on_time=tasks.done_on_time.cast("int64"),
        overdue_in_period=tasks.overdue.cast("int64"),
        follow_ups_due=follow_up.cast("int64"),
        follow_ups_completed=(follow_up & tasks.done).cast("int64"),
        meetings_due=meeting.cast("int64"),
        meetings_held=(meeting & tasks.done).cast("int64"),
    )  # fmt: skip
    late = overdue_at_as_of(m, p)
    overdue = part(late, "responsible_user_id", "overdue")
    acts = activities_in_period(m, p)
    acts = acts.filter(acts.created_by != 0)  # a robot's message is nobody's work

    def kind(medium: str, direction: str) -> ir.Value:
        return ((acts.medium == medium) & (acts.direction == direction)).cast("int64")

    events = part(
        acts, "created_by", None,
        calls_out=kind("call", "out"), calls_in=kind("call", "in"),
        call_seconds=(acts.medium == "call").ifelse(acts.call_seconds.fill_null(0), 0),
        messages_out=kind("chat", "out"), messages_in=kind("chat", "in"),
        emails_out=kind("mail", "out"), emails_in=kind("mail", "in"),
        sms_out=kind("sms", "out"), sms_in=kind("sms", "in"),
    )  # fmt: skip
    every = ibis.union(due, overdue, events, distinct=False)
    return every.group_by("user_id").aggregate(
        **{name: every[name].sum() for name in ACTIVITY_BY_SELLER_COLUMNS}
    )


def seller_month_pacing(m: Model, p: MetricParams) -> ir.Table:
    """Per seller with a revenue goal for the month `as_of` falls in: that goal and the revenue
    and deals won so far in the month, counted as the forecast module counts the whole team's
    (inside the filters; goals follow only the seller filter). Not the sidebar period: pacing
    is about the month still running."""
    month_first = p.as_of_local.date().replace(day=1)
    # Midnight of the 1st, local, as the naive timestamp `closed_local` is compared with.
    first = p.as_of_local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    leads = scoped_leads(m, p)
    won = leads.filter(
        (leads.outcome == "won")
        & (leads.closed_local >= ts(first))
        & (leads.closed_at <= ts(p.as_of_utc))
    )
    won = won.group_by("responsible_user_id").aggregate(
        revenue=won.price.fill_null(0).sum(), won=won.count()
    )
    goals = m.input_goals
    goals = goals.filter(goals.month == month_first)
    if p.sellers:
        goals = goals.filter(goals.user_id.isin(list(p.sellers)))
    goals = goals.group_by("user_id").aggregate(goal=goals.revenue_goal.sum())
    joined = goals.left_join(won, goals.user_id == won.responsible_user_id)
    return joined.select(
        user_id=goals.user_id,
        goal=goals.goal,
        revenue=won.revenue.fill_null(0),
        won=won.won.fill_null(0),
    ).order_by("user_id")
