"""Module 4 — sales and revenue: won and lost deals closed in the period, revenue, average
ticket, win rate, sales cycle and loss reasons, in total and per seller (the lead's current
responsible user)."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from kommo_analytics.metrics.common import (
    Model,
    Queries,
    Results,
    closed_in_period,
    count,
    median,
    num,
    pct,
    ratio,
    text,
    tuples,
)
from kommo_analytics.metrics.params import MetricParams

NOT_SPECIFIED = "not specified"


def without_value(price: ir.NumericValue) -> ir.BooleanValue:
    """A deal without a value: Kommo sends 0 when the field is empty, so 0 means "no value" as
    much as a missing price does (docs/metrics.md, "Won without value")."""
    return price.isnull() | (price == 0)


def queries(m: Model, p: MetricParams) -> Queries:
    closed = closed_in_period(m, p)
    is_won = closed.outcome == "won"
    won = closed.filter(is_won)
    lost = closed.filter(closed.outcome == "lost")
    return {
        "by_seller": closed.group_by("responsible_user_id").aggregate(
            won=is_won.sum(),
            lost=(~is_won).sum(),
            revenue=is_won.ifelse(closed.price.fill_null(0), 0).sum(),
            won_without_price=(is_won & without_value(closed.price)).sum(),
            cycle_days=is_won.ifelse(closed.cycle_days, None).mean(),
        ),
        "cycle_median": median(won, "cycle_days"),
        "loss_reasons": lost.group_by("loss_reason").aggregate(
            count=lost.count(), value=lost.price.fill_null(0).sum()
        ),
    }


def assemble(results: Results, p: MetricParams) -> dict[str, Any]:
    frame = results["by_seller"]
    won = int(frame["won"].map(count).sum()) if len(frame) else 0
    lost = int(frame["lost"].map(count).sum()) if len(frame) else 0
    revenue = float(frame["revenue"].map(lambda v: num(v) or 0.0).sum()) if len(frame) else 0.0
    # The mean of per-seller means would weigh sellers, not deals: recombine by deal counts.
    cycle_total = sum(
        (num(r.cycle_days) or 0.0) * count(r.won) for r in tuples(frame) if count(r.won)
    )
    median_frame = results["cycle_median"]
    reasons = results["loss_reasons"]
    reason_rows: list[dict[str, Any]] = sorted(
        (
            {
                "reason": text(r.loss_reason) or NOT_SPECIFIED,
                "count": count(r.count),
                "value": num(r.value) or 0.0,
            }
            for r in tuples(reasons)
        ),
        key=lambda r: (-r["count"], -r["value"], r["reason"]),
    )
    for row in reason_rows:
        row["share_pct"] = pct(row["count"], lost)
    return {
        "won": won,
        "lost": lost,
        "win_rate_pct": pct(won, won + lost),
        "revenue": revenue,
        "avg_ticket": ratio(revenue, won),
        "won_without_price": int(frame["won_without_price"].map(count).sum()) if len(frame) else 0,
        "sales_cycle_avg_days": ratio(cycle_total, won),
        "sales_cycle_median_days": num(median_frame["median"].iloc[0])
        if won and len(median_frame)
        else None,
        "loss_reasons": reason_rows,
    }


def per_seller(results: Results) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for r in tuples(results["by_seller"]):
        if num(r.responsible_user_id) is None:
            continue
        won, lost, revenue = count(r.won), count(r.lost), num(r.revenue) or 0.0
        out[int(r.responsible_user_id)] = {
            "won": won,
            "lost": lost,
            "win_rate_pct": pct(won, won + lost),
            "revenue": revenue,
            "avg_ticket": ratio(revenue, won),
            "sales_cycle_avg_days": num(r.cycle_days) if won else None,
        }
    return out
