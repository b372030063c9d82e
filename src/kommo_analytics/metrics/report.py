"""All six modules together: the object ``kommo-analytics metrics --json`` prints.

``plan`` gathers every module's queries under one namespace; ``assemble`` turns their executed
results into the contract's JSON object. Both are pure; ``compute`` takes the executor as a
parameter, so tests can run the same definitions on any backend.

Readers get the document as the typed :class:`~kommo_analytics.metrics.results.Report`: the read
service checks it with ``Report.from_dict``. It stays plain JSON data here because that is what
the metric tests and the definitions' coverage walk, key by key, against the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.metrics import activities, forecast, funnel, intake, performance, sales
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


# The report's sections and the modules whose queries each needs. A page that shows a few
# sections asks for those only; `metrics --json` asks for all.
SECTIONS: dict[str, tuple[str, ...]] = {
    "leads": ("intake",),
    "funnel": ("funnel",),
    "activities": ("activities",),
    "sales": ("sales",),
    "sellers": ("performance", "sales", "activities"),
    "channels": ("intake",),
    "marketing": ("intake",),
    "goals_imported": ("performance",),
    "forecast": ("forecast",),
    "data_quality": ("intake",),
}


def modules_for(sections: Iterable[str] | None) -> tuple[str, ...]:
    if sections is None:
        return tuple(MODULES)
    wanted = {module for section in sections for module in SECTIONS[section]}
    return tuple(name for name in MODULES if name in wanted)


def plan(m: Model, p: MetricParams, sections: Iterable[str] | None = None) -> Queries:
    queries: Queries = {}
    for module_name in modules_for(sections):
        for name, expr in MODULES[module_name].queries(m, p).items():
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
    channels: tuple[str, ...],
    info: Mapping[str, str] | None = None,
    sections: Iterable[str] | None = None,
) -> dict[str, Any]:
    r = _split(results)
    wanted = set(SECTIONS) if sections is None else set(sections)
    channel_rows = (
        performance.channels(r["intake"], channels, p) if "intake" in modules_for(wanted) else []
    )
    builders: dict[str, Callable[[], Any]] = {
        "leads": lambda: intake.assemble(r["intake"], p, channels),
        "funnel": lambda: funnel.assemble(r["funnel"], p),
        "activities": lambda: {
            k: v for k, v in activities.assemble(r["activities"], p).items() if k != "per_seller"
        },
        "sales": lambda: sales.assemble(r["sales"], p),
        "sellers": lambda: performance.sellers(r["performance"], r["sales"], r["activities"], p),
        "channels": lambda: channel_rows,
        "marketing": lambda: performance.marketing(channel_rows),
        "goals_imported": lambda: performance.goals_imported(r["performance"]),
        "forecast": lambda: forecast.assemble(r["forecast"], p),
        "data_quality": lambda: intake.data_quality(r["intake"]),
    }
    report: dict[str, Any] = {
        "period": {"from": p.start.isoformat(), "to": p.end.isoformat(), "timezone": p.timezone},
        "as_of": p.as_of.isoformat(),
        "currency": currency,
        "filters": {
            "pipelines": list(p.pipelines),
            "sellers": list(p.sellers),
            "channels": list(p.channels),
        },
    }
    for section, build in builders.items():
        if section in wanted:
            report[section] = build()
    report["model"] = dict(info or {})
    return report


def compute(
    m: Model,
    p: MetricParams,
    execute: Executor,
    *,
    currency: str | None,
    channels: tuple[str, ...],
    info: Mapping[str, str] | None = None,
    sections: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The report, or only the given sections of it (the others are not computed)."""
    results = execute(plan(m, p, sections))
    return assemble(results, p, currency=currency, channels=channels, info=info, sections=sections)
