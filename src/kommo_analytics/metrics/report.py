"""All six modules together: the object ``kommo-analytics metrics --json`` prints.

``plan`` gathers every module's queries under one namespace; ``assemble`` turns their executed
results into the contract's JSON object. Both are pure; ``compute`` takes the executor as a
parameter, so tests can run the same definitions on any backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.metrics import activities, forecast, funnel, intake, performance, sales
from kommo_analytics.metrics.channels import DEFAULT_CHANNELS
from kommo_analytics.metrics.common import Model, Queries
from kommo_analytics.metrics.params import MetricParams

MODULES: dict[str, Any] = {
    "intake": intake,
    "funnel": funnel,
    "activities": activities,
    "sales": sales,
    "performance": performance,
    "forecast": forecast,
}

Executor = Callable[[Mapping[str, ir.Table]], Mapping[str, pd.DataFrame]]


def plan(m: Model, p: MetricParams) -> Queries:
    queries: Queries = {}
    for module_name, module in MODULES.items():
        for name, expr in module.queries(m, p).items():
            queries[f"{module_name}.{name}"] = expr
    return queries


def _split(results: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    split: dict[str, dict[str, pd.DataFrame]] = {name: {} for name in MODULES}
    for key, frame in results.items():
        module_name, _, name = key.partition(".")
        split[module_name][name] = frame
    return split


def assemble(
    results: Mapping[str, pd.DataFrame],
    p: MetricParams,
    *,
    currency: str | None,
    channels: tuple[str, ...] = DEFAULT_CHANNELS,
    info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    r = _split(results)
    channel_rows = performance.channels(r["intake"], channels, p)
    return {
        "period": {"from": p.start.isoformat(), "to": p.end.isoformat(), "timezone": p.timezone},
        "as_of": p.as_of.isoformat(),
        "currency": currency,
        "filters": {
            "pipelines": list(p.pipelines),
            "sellers": list(p.sellers),
            "channels": list(p.channels),
        },
        "leads": intake.assemble(r["intake"], p, channels),
        "funnel": funnel.assemble(r["funnel"], p),
        "activities": {
            k: v for k, v in activities.assemble(r["activities"], p).items() if k != "per_seller"
        },
        "sales": sales.assemble(r["sales"], p),
        "sellers": performance.sellers(r["performance"], r["sales"], r["activities"], p),
        "channels": channel_rows,
        "marketing": performance.marketing(channel_rows),
        "goals_imported": performance.goals_imported(r["performance"]),
        "forecast": forecast.assemble(r["forecast"], p),
        "data_quality": {"deleted_leads": intake.deleted_leads(r["intake"])},
        "model": dict(info or {}),
    }


def compute(
    m: Model,
    p: MetricParams,
    execute: Executor,
    *,
    currency: str | None,
    channels: tuple[str, ...] = DEFAULT_CHANNELS,
    info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return assemble(execute(plan(m, p)), p, currency=currency, channels=channels, info=info)
