"""Module 1 — lead intake and origin: leads by channel and UTM, first response, cost per lead."""

from __future__ import annotations

from typing import Any

import pandas as pd

from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    count,
    created_in_period,
    median,
    num,
    pct,
    ratio,
    ts,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams

UTM_DIMENSIONS = ("utm_source", "utm_medium", "utm_campaign")


def costs_in_period(m: Model, p: MetricParams) -> Any:
    costs = m.input_costs
    costs = costs.filter((costs.day >= p.start) & (costs.day <= p.end))
    if p.channels:
        costs = costs.filter(costs.channel.isin(list(p.channels)))
    return costs


def queries(m: Model, p: MetricParams) -> Queries:
    leads = created_in_period(m, p)
    answered = leads.first_response_at.notnull() & (leads.first_response_at <= ts(p.as_of_utc))
    flagged = leads.mutate(
        answered=answered,
        hours=answered.ifelse(leads.response_hours, None),
        won_to_date=(leads.outcome == "won") & (leads.closed_at <= ts(p.as_of_utc)),
    )
    costs = costs_in_period(m, p)
    gone = m.fact_leads
    gone = gone.filter(gone.is_deleted == True)  # noqa: E712
    dated = gone.filter(
        (gone.created_local >= ts(p.local_start)) & (gone.created_local < ts(p.local_end))
    )
    undated = gone.filter(gone.created_at.isnull())
    return {
        "deleted": dated.aggregate(leads=dated.count()),
        "deleted_undated": undated.aggregate(leads=undated.count()),
        "by_channel": flagged.group_by("channel").aggregate(
            leads=flagged.count(),
            won=flagged.won_to_date.sum(),
            revenue=flagged.won_to_date.ifelse(flagged.price.fill_null(0), 0).sum(),
        ),
        "response": flagged.aggregate(
            leads=flagged.count(),
            answered=flagged.answered.sum(),
            avg_hours=flagged.hours.mean(),
            within_sla=(flagged.answered & (flagged.hours <= p.sla_hours)).sum(),
        ),
        "response_median": median(flagged.filter(flagged.answered), "hours"),
        "utm": flagged.group_by(list(UTM_DIMENSIONS)).aggregate(
            leads=flagged.count(),
            won=flagged.won_to_date.sum(),
            revenue=flagged.won_to_date.ifelse(flagged.price.fill_null(0), 0).sum(),
        ),
        "costs": costs.group_by("channel").aggregate(amount=costs.amount.sum(), rows=costs.count()),
        # Per channel, so that assemble can pick the fallback's row (its key is the rules').
        "origin_gaps": flagged.group_by("channel").aggregate(
            leads=flagged.count(),
            no_tracking_field=(flagged.tracking_fields.fill_null(0) == 0).sum(),
            no_tag=(flagged.tag_count.fill_null(0) == 0).sum(),
            created_by_robot=(flagged.created_by == 0).sum(),
        ),
    }


def costs_apply(p: MetricParams) -> bool:
    """Costs are imported per channel (and day): they cannot be split by seller or pipeline, so
    under those filters cost figures are left empty rather than set against a subset of leads."""
    return not (p.sellers or p.pipelines)


def cost_by_channel(results: Results, p: MetricParams) -> dict[str, float]:
    if not costs_apply(p):
        return {}
    frame = results["costs"]
    return {str(r.channel): num(r.amount) or 0.0 for r in tuples(frame)}


def assemble(results: Results, p: MetricParams, channels: tuple[str, ...]) -> dict[str, Any]:
    by_channel = {str(r.channel): count(r.leads) for r in tuples(results["by_channel"])}
    total = sum(by_channel.values())
    response = results["response"]
    row = response.iloc[0] if len(response) else None
    answered = count(row.answered) if row is not None else 0
    costs = cost_by_channel(results, p)
    cost_total = sum(costs.values()) if costs else None
    return {
        "total": total,
        "by_channel": {key: by_channel.get(key, 0) for key in channels}
        | {k: v for k, v in by_channel.items() if k not in channels},
        "response_time": {
            "avg_hours": num(row.avg_hours) if row is not None and answered else None,
            "median_hours": num(results["response_median"]["median"].iloc[0])
            if answered and len(results["response_median"])
            else None,
            "within_sla_pct": pct(count(row.within_sla) if row is not None else 0, total),
            "without_response": total - answered,
            "answered": answered,
            "sla_hours": p.sla_hours,
        },
        "cost": {
            # No cost rows in the period is "unknown", not zero: nothing was imported for it.
            "total": cost_total,
            "per_lead": ratio(cost_total, total),
            "by_channel": {
                key: {"total": costs[key], "per_lead": ratio(costs[key], by_channel.get(key, 0))}
                if key in costs
                else None
                for key in channels
            },
            "imported": bool(costs),
            "not_split_by_filter": not costs_apply(p),
        },
        "utm": utm_tables(results["utm"]),
        "unknown": unknown_reasons(results["origin_gaps"], channels[-1] if channels else None),
    }


UNKNOWN_REASONS = ("no_tracking_field", "no_tag", "created_by_robot")


def unknown_reasons(frame: pd.DataFrame, fallback: str | None) -> dict[str, int]:
    """How many leads fell through to the fallback channel ("unknown"), and how many of them
    lack what the rules go by: a tracking field, a tag, a person as creator. A lead may lack
    several, so the reasons do not add up to the total."""
    row = next((r for r in tuples(frame) if str(r.channel) == fallback), None)
    return {"total": count(row.leads) if row is not None else 0} | {
        reason: count(getattr(row, reason)) if row is not None else 0 for reason in UNKNOWN_REASONS
    }


def data_quality(results: Results) -> dict[str, int]:
    """Deleted leads: left out of every metric, counted here so a drop in leads can be explained
    (the filters do not apply: a deleted lead's fields are its last known ones).

    ``deleted_leads`` are those created in the period. A lead known only from the trash with no
    creation event has no creation date to put in any period; rather than vanish it is counted
    in ``deleted_leads_creation_unknown``, whatever the period."""

    def total(name: str) -> int:
        frame = results[name]
        return count(frame["leads"].iloc[0]) if len(frame) else 0

    return {
        "deleted_leads": total("deleted"),
        "deleted_leads_creation_unknown": total("deleted_undated"),
    }


def utm_tables(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Leads, won deals and revenue per UTM source, medium and campaign ("(none)" when unset)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    if frame.empty:
        return {dim: [] for dim in UTM_DIMENSIONS}
    data = frame.copy()
    for column in ("leads", "won", "revenue"):
        data[column] = data[column].map(num).fillna(0)
    for dim in UTM_DIMENSIONS:
        grouped = (
            data.assign(**{dim: data[dim].fillna("(none)")})
            .groupby(dim, dropna=False)[["leads", "won", "revenue"]]
            .sum()
            .sort_values(["leads", "revenue"], ascending=False)
        )
        tables[dim] = [
            {
                "value": str(value),
                "leads": int(r.leads),
                "won": int(r.won),
                "revenue": float(r.revenue),
                "conversion_pct": pct(r.won, r.leads),
            }
            for value, r in grouped.iterrows()
        ]
    return tables
