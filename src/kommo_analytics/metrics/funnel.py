"""Module 2 — conversion funnel per pipeline: reach, conversion to the next stage, time in
stage, abandonment, the bottleneck and sales velocity.

The cohort of a pipeline is its leads created in the period. A lead *reached* a stage when its
history includes that stage, any later one, or a win: a lead that skipped a stage still passed it.
"""

from __future__ import annotations

from typing import Any

from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    closed_in_period,
    count,
    created_in_period,
    median,
    num,
    pct,
    ratio,
    scoped_leads,
    ts,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams


def _open_stages(m: Model, p: MetricParams) -> Any:
    stages = m.dim_stages
    stages = stages.filter(stages.stage_order.notnull())
    if p.pipelines:
        stages = stages.filter(stages.pipeline_id.isin(list(p.pipelines)))
    return stages


def queries(m: Model, p: MetricParams) -> Queries:
    cohort = created_in_period(m, p)
    stages = _open_stages(m, p)
    st = stages.select(st_pipeline="pipeline_id", st_status="status_id", st_order="stage_order")
    reach = cohort.join(
        st,
        (cohort.pipeline_id == st.st_pipeline)
        & ((cohort.max_stage_order >= st.st_order) | (cohort.ever_won == True)),  # noqa: E712
    )
    lost = cohort.filter(cohort.outcome == "lost")
    stays = m.fact_stage_stays
    finished = stays.filter(stays.left_at.notnull() & (stays.left_at <= ts(p.as_of_utc)))
    cohort_stays = finished.join(
        cohort.select("lead_id", lead_pipeline="pipeline_id"),
        (finished.lead_id == cohort.lead_id),
    )
    cohort_stays = cohort_stays.filter(cohort_stays.pipeline_id == cohort_stays.lead_pipeline)
    pipes = m.dim_pipelines.select("pipeline_id", pipeline_name="name", pipeline_sort="sort")
    closed = closed_in_period(m, p)
    everyone = scoped_leads(m, p)
    open_now = everyone.filter(
        (everyone.created_at <= ts(p.as_of_utc))
        & (
            (everyone.outcome == "open")
            | (everyone.closed_at.notnull() & (everyone.closed_at > ts(p.as_of_utc)))
        )
    )
    return {
        "stages": stages.select("pipeline_id", "status_id", "stage_order", "name").join(
            pipes, "pipeline_id"
        ),
        "reached": reach.group_by(pipeline_id="st_pipeline", status_id="st_status").aggregate(
            reached=lambda t: t.count()
        ),
        "won": cohort.filter(cohort.outcome == "won")
        .group_by("pipeline_id")
        .aggregate(won=lambda t: t.count()),
        "cohort": cohort.group_by("pipeline_id").aggregate(leads=cohort.count()),
        "abandoned": lost.filter(lost.last_open_pipeline_id == lost.pipeline_id)
        .group_by(["pipeline_id", "last_open_status_id"])
        .aggregate(lost=lambda t: t.count()),
        "time": cohort_stays.group_by(["pipeline_id", "status_id"]).aggregate(
            stays=cohort_stays.count(), avg_hours=cohort_stays.hours.mean()
        ),
        "time_median": median(cohort_stays, "hours", ["pipeline_id", "status_id"]),
        "closed": closed.group_by("pipeline_id").aggregate(
            won=(closed.outcome == "won").sum(),
            lost=(closed.outcome == "lost").sum(),
            revenue=(closed.outcome == "won").ifelse(closed.price.fill_null(0), 0).sum(),
            cycle_days=(closed.outcome == "won").ifelse(closed.cycle_days, None).mean(),
        ),
        "open_now": open_now.group_by("pipeline_id").aggregate(open=open_now.count()),
    }


def velocity(
    open_deals: int, won: int, lost: int, revenue: float, cycle_days: float | None
) -> float | None:
    """Open deals × win rate × average ticket ÷ average sales cycle in days (revenue per day the
    current pipeline should yield); None when any factor is unknown."""
    win_rate = ratio(won, won + lost)
    ticket = ratio(revenue, won)
    if win_rate is None or ticket is None or not cycle_days:
        return None
    return open_deals * win_rate * ticket / cycle_days


def assemble(results: Results, p: MetricParams) -> list[dict[str, Any]]:
    reached = {
        (int(r.pipeline_id), int(r.status_id)): count(r.reached) for r in tuples(results["reached"])
    }
    won = {int(r.pipeline_id): count(r.won) for r in tuples(results["won"])}
    cohort = {int(r.pipeline_id): count(r.leads) for r in tuples(results["cohort"])}
    abandoned = {
        (int(r.pipeline_id), int(r.last_open_status_id)): count(r.lost)
        for r in tuples(results["abandoned"])
    }
    time = {
        (int(r.pipeline_id), int(r.status_id)): (count(r.stays), num(r.avg_hours))
        for r in tuples(results["time"])
    }
    medians = {
        (int(r.pipeline_id), int(r.status_id)): num(r.median)
        for r in tuples(results["time_median"])
    }
    closed = {int(r.pipeline_id): r for r in tuples(results["closed"])}
    open_now = {int(r.pipeline_id): count(r.open) for r in tuples(results["open_now"])}

    stages = results["stages"].sort_values(["pipeline_sort", "pipeline_id", "stage_order"])
    pipelines: list[dict[str, Any]] = []
    for pipeline_id, group in stages.groupby("pipeline_id", sort=False):
        pid = int(str(pipeline_id))
        rows = tuples(group)
        out_stages: list[dict[str, Any]] = []
        for i, stage in enumerate(rows):
            key = (pid, int(stage.status_id))
            here = reached.get(key, 0)
            nxt = (
                reached.get((pid, int(rows[i + 1].status_id)), 0)
                if i + 1 < len(rows)
                else won.get(pid, 0)
            )
            stays, avg_hours = time.get(key, (0, None))
            out_stages.append(
                {
                    "status_id": int(stage.status_id),
                    "name": stage.name,
                    "reached": here,
                    "conversion_to_next_pct": pct(nxt, here),
                    "avg_hours_in_stage": avg_hours if stays else None,
                    "median_hours_in_stage": medians.get(key) if stays else None,
                    "finished_stays": stays,
                    "abandoned": abandoned.get(key, 0),
                    "abandonment_pct": pct(abandoned.get(key, 0), here),
                }
            )
        eligible = [
            s
            for s in out_stages
            if s["reached"] >= p.bottleneck_min_reached and s["conversion_to_next_pct"] is not None
        ]
        bottleneck = min(eligible, key=lambda s: s["conversion_to_next_pct"]) if eligible else None
        c = closed.get(pid)
        pipelines.append(
            {
                "pipeline_id": pid,
                "name": rows[0].pipeline_name,
                "leads": cohort.get(pid, 0),
                "won": won.get(pid, 0),
                "stages": out_stages,
                "bottleneck_status_id": bottleneck["status_id"] if bottleneck else None,
                "open_deals": open_now.get(pid, 0),
                "sales_velocity_per_day": velocity(
                    open_now.get(pid, 0),
                    count(c.won) if c is not None else 0,
                    count(c.lost) if c is not None else 0,
                    num(c.revenue) or 0.0 if c is not None else 0.0,
                    num(c.cycle_days) if c is not None else None,
                ),
            }
        )
    return pipelines
