"""The metrics as the pages read them: the six modules' report and the series behind the charts,
computed through :mod:`kommo_analytics.analytics` and cached per warehouse version.

The cache key is everything a number depends on: the warehouse (URL and version), the model's
own stamp (a rebuild or an import changes it without a sync), the period, the filters and "now"
rounded down to the minute, so a page re-rendered within a minute reuses its numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import pandas as pd
import streamlit as st

from kommo_analytics import analytics
from kommo_analytics.dashboard import data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.errors import KommoAnalyticsError, WarehouseError
from kommo_analytics.metrics import series
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import model_qualified, model_schema
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url

CACHE_TTL_SECONDS: Final = data.CACHE_TTL_SECONDS
DRILL_LIMIT: Final = 5000  # leads listed under one aggregate (the newest first)


@dataclass(frozen=True)
class Scope:
    """A view reduced to what the metrics take; hashable, so it can be a cache key."""

    url: str
    version: str
    start: date
    end: date
    as_of: datetime
    pipelines: tuple[int, ...]
    sellers: tuple[int, ...]
    channels: tuple[str, ...]

    def with_period(self, start: date, end: date) -> Scope:
        return Scope(self.url, self.version, start, end, self.as_of, self.pipelines,
                     self.sellers, self.channels)  # fmt: skip


def model_stamp(url: str) -> str:
    """When the model was built and what was imported: not cached (it is part of the key)."""
    target = parse_database_url(url)
    try:
        rows = reader.query(
            target,
            f"SELECT value FROM {model_qualified(target, 'model_info')} WHERE item = 'built_at' "
            f"UNION ALL SELECT CAST(COUNT(*) AS CHAR(20)) FROM "
            f"{model_qualified(target, 'input_costs')} "
            f"UNION ALL SELECT CAST(COUNT(*) AS CHAR(20)) FROM "
            f"{model_qualified(target, 'input_goals')}",
        )
    except Exception as exc:
        if reader.is_missing_table(exc):
            return ""
        raise
    return "|".join(str(r[0]) for r in rows)


def scope_of(view: View) -> Scope | None:
    """The view's scope, or None when the warehouse has no model yet."""
    warehouse = view.warehouse
    if not warehouse.ready:
        return None
    stamp = model_stamp(warehouse.url)
    if not stamp:
        return None
    minute = view.now.replace(second=0, microsecond=0)
    return Scope(
        url=warehouse.url,
        version=f"{warehouse.version}|{stamp}",
        start=view.start,
        end=view.end,
        as_of=minute,
        pipelines=view.filters.pipelines,
        sellers=view.filters.users,
        channels=view.filters.channels,
    )


def params_of(scope: Scope, acc: analytics.Account, sla_hours: float) -> MetricParams:
    return analytics.params_for(
        acc,
        start=scope.start,
        end=scope.end,
        as_of=scope.as_of,
        now=scope.as_of,
        pipelines=scope.pipelines,
        sellers=scope.sellers,
        channels=[c for c in scope.channels if c in acc.channels],
        sla_hours=sla_hours,
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_account(url: str, version: str) -> analytics.Account:
    return analytics.account(parse_database_url(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_report(
    scope: Scope, sla_hours: float = 2.0, sections: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """The `metrics --json` object for the scope, or only the sections a page shows (the
    others' queries are not run: a page renders in a fraction of the whole report's time)."""
    target = parse_database_url(scope.url)
    acc = load_account(scope.url, scope.version)
    return analytics.compute(target, acc, params_of(scope, acc, sla_hours), sections)


def series_function(name: str) -> Callable[[Model, MetricParams], Any]:
    """A chart query of :mod:`kommo_analytics.metrics.series` by name: any public function of
    it that takes (model, params)."""
    function = getattr(series, name, None)
    if name.startswith("_") or not callable(function):
        raise KeyError(f"no series named {name!r}")
    return function  # type: ignore[no-any-return]


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_series(
    scope: Scope, names: tuple[str, ...], sla_hours: float = 2.0
) -> dict[str, pd.DataFrame]:
    """Several series of :mod:`kommo_analytics.metrics.series` on one connection."""
    target = parse_database_url(scope.url)
    acc = load_account(scope.url, scope.version)
    params = params_of(scope, acc, sla_hours)
    model = Model(model_schema(target))
    return run_all(target, {name: series_function(name)(model, params) for name in names})


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_leads(
    scope: Scope,
    basis: str,
    where: tuple[tuple[str, Any], ...] = (),
    reached: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The leads behind an aggregate (drill-down): created or closed in the period, or open now,
    narrowed by ``where`` (column, value) pairs, or those of a pipeline that reached a stage
    (``reached`` = (pipeline id, stage order))."""
    target = parse_database_url(scope.url)
    acc = load_account(scope.url, scope.version)
    params = params_of(scope, acc, 2.0)
    model = Model(model_schema(target))
    if reached is not None:
        expr = series.reached_stage(model, params, *reached)
    else:
        expr = series.narrow(series.lead_list(model, params, basis), **dict(where))  # type: ignore[arg-type]
    return run_all(target, {"leads": series.named(model, expr).limit(DRILL_LIMIT)})["leads"]


def safe(load: Callable[[], Any]) -> tuple[Any, KommoAnalyticsError | None]:
    """Run a loader; a warehouse problem comes back as an error the page explains."""
    try:
        return load(), None
    except KommoAnalyticsError as exc:
        return None, exc
    except Exception as exc:  # a driver error mid-render: one line for people
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, WarehouseError(f"reading the metrics failed: {first}")
