"""The metrics as the pages read them: the six modules' report, the series behind the charts and
the leads behind an aggregate, and the revenue forecast, computed by the read service
(:mod:`kommo_analytics.service`) and cached per warehouse version.

The cache key is everything a number depends on: the warehouse (URL and version), the model's
own stamp (a rebuild or an import changes it without a sync), the period, the filters and "now"
rounded down to the minute, so a page re-rendered within a minute reuses its numbers. The
forecast is keyed only by what it reads (the period and the channels are not forecast filters), so
the Overview and the Forecast page share one simulation — and for the company's scope none at
all, when the last sync kept that day's forecast (``service/forecast_store.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.errors import KommoAnalyticsError, WarehouseError
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import Report
from kommo_analytics.service import account, forecasts, pages, reports
from kommo_analytics.service.account import Account
from kommo_analytics.service.forecasts import Accuracy, Forecast, Labels
from kommo_analytics.service.pages import Page, PageRequest
from kommo_analytics.service.scope import Scope

CACHE_TTL_SECONDS: Final = data.CACHE_TTL_SECONDS
DRILL_LIMIT: Final = reports.DRILL_LIMIT
EXPORT_LIMIT: Final = pages.EXPORT_LIMIT
# The simulation's seed: fixed, so a re-render (or another page) shows the same numbers, and the
# same as `kommo-analytics forecast`'s default, so the page and the command agree.
FORECAST_SEED: Final = 0


@dataclass(frozen=True)
class Request:
    """A view's scope on one warehouse version and model build; hashable, so it keys caches."""

    url: str
    version: str
    scope: Scope

    @property
    def as_of(self) -> datetime:
        assert self.scope.as_of is not None, "a view's scope always has its render's minute"
        return self.scope.as_of

    def with_period(self, start: date, end: date) -> Request:
        return replace(self, scope=self.scope.with_period(start, end))


def model_stamp(url: str) -> str:
    """When the model was built and what was imported: not cached (it is part of the key)."""
    return reports.model_stamp(account.target(url))


def request_of(view: View) -> Request | None:
    """The view's request, or None when the warehouse has no model yet."""
    warehouse = view.warehouse
    if not warehouse.ready:
        return None
    stamp = model_stamp(warehouse.url)
    if not stamp:
        return None
    scope = Scope(
        start=view.start,
        end=view.end,
        as_of=view.now.replace(second=0, microsecond=0),
        pipelines=view.filters.pipelines,
        sellers=view.filters.users,
        channels=view.filters.channels,
        allowed_sellers=view.allowed_sellers,
    )
    return Request(url=warehouse.url, version=f"{warehouse.version}|{stamp}", scope=scope)


def params_of(request: Request, acc: Account, sla_hours: float) -> MetricParams:
    # A channel in the URL that the rules no longer have is dropped, not an error, on a page.
    scope = replace(request.scope, channels=tuple(c for c in request.scope.channels
                                                  if c in acc.channels))  # fmt: skip
    return reports.params(acc, scope, now=request.as_of, sla_hours=sla_hours)


def load_account(url: str, version: str) -> Account:
    """The account of a built model (the metrics' currency, channels and time zone)."""
    return account.require_model(data.load_account(url, version), account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_report(
    request: Request, sla_hours: float = 2.0, sections: tuple[str, ...] | None = None
) -> Report:
    """The metric report for the request, or only the sections a page shows (the others'
    queries are not run: a page renders in a fraction of the whole report's time)."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, sla_hours)
    # The pages read the forecast's range from `load_forecast` (one cached run for all of them).
    return reports.report(account.target(request.url), acc, params, sections, forecast_range=False)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_series(
    request: Request, names: tuple[str, ...], sla_hours: float = 2.0
) -> dict[str, pd.DataFrame]:
    """Several series of :mod:`kommo_analytics.metrics.series` on one connection."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, sla_hours)
    return reports.series(account.target(request.url), params, names)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_stage_times(request: Request, sla_hours: float = 2.0) -> pd.DataFrame:
    """The funnel's time in stage (median and 80th percentile), see
    :func:`reports.stage_times`."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, sla_hours)
    return reports.stage_times(account.target(request.url), params)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_lead_page(
    request: Request,
    basis: str,
    page: PageRequest,
    where: tuple[tuple[str, Any], ...] = (),
    reached: tuple[int, int] | None = None,
) -> Page:
    """One page of the leads behind an aggregate (drill-down), see :func:`pages.drill_page`."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, 2.0)
    return pages.drill_page(account.target(request.url), params, basis, page, where, reached)


def lead_rows(
    request: Request,
    basis: str,
    page: PageRequest,
    where: tuple[tuple[str, Any], ...] = (),
    reached: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The leads behind an aggregate for a download (not cached: built when a button is
    clicked), at most ``pages.EXPORT_LIMIT``."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, 2.0)
    return pages.drill_rows(account.target(request.url), params, basis, page, where, reached)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_overdue_page(request: Request, page: PageRequest, sla_hours: float = 2.0) -> Page:
    """One page of the tasks due in the period and overdue at as_of."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, sla_hours)
    return pages.overdue_page(account.target(request.url), params, page)


def overdue_rows(request: Request, page: PageRequest, sla_hours: float = 2.0) -> pd.DataFrame:
    """The overdue tasks of the period for a download (built when a button is clicked)."""
    acc = load_account(request.url, request.version)
    params = params_of(request, acc, sla_hours)
    return pages.overdue_rows(account.target(request.url), params, page)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_team_median(request: Request, sla_hours: float = 2.0) -> reports.TeamMedian | None:
    """The team's median ranking figures for the request's period and filters, over every
    seller (only the medians come back: what a viewer limited to their own data may see)."""
    acc = load_account(request.url, request.version)
    scope = replace(request.scope, channels=tuple(c for c in request.scope.channels
                                                  if c in acc.channels))  # fmt: skip
    return reports.team_median(
        account.target(request.url), acc, scope, now=request.as_of, sla_hours=sla_hours
    )


def forecast_request(request: Request) -> Request:
    """The part of a request the forecast depends on: the period and the channels are dropped,
    so every period of the same minute and filters reuses one simulation."""
    scope = replace(request.scope, start=None, end=None, channels=())
    return replace(request, scope=scope)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _forecast(request: Request, seed: int) -> Forecast:
    # The company's forecast of the day is the one the last sync kept in the data folder (a
    # simulation over every lead is minutes on a large account); a filtered one runs live.
    acc = load_account(request.url, request.version)
    return forecasts.forecast_or_stored(
        account.target(request.url),
        acc,
        request.scope,
        now=request.as_of,
        data_dir=data.data_dir(),
        seed=seed,
    )


def load_forecast(request: Request, seed: int = FORECAST_SEED) -> Forecast:
    """P10/P50/P90 for the month of the request's "as of" and the two after it (or the
    statement of what history is missing), for its pipelines and sellers."""
    return _forecast(forecast_request(request), seed)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_forecast_labels(url: str, version: str) -> Labels:
    """Pipeline, stage and seller names for the ids a forecast reports."""
    return forecasts.labels(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _accuracy(url: str, version: str, as_of: datetime) -> Accuracy:
    acc = load_account(url, version)
    return forecasts.accuracy(account.target(url), acc, now=as_of)


def load_accuracy(request: Request) -> Accuracy:
    """The company's stored forecasts of the last closed months scored against what was won
    (the record is the company's whatever the filters, so only the warehouse and "now" key it)."""
    return _accuracy(request.url, request.version, request.as_of)


def safe(load: Callable[[], Any]) -> tuple[Any, KommoAnalyticsError | None]:
    """Run a loader; a warehouse problem comes back as an error the page explains."""
    try:
        return load(), None
    except KommoAnalyticsError as exc:
        return None, exc
    except Exception as exc:  # a driver error mid-render: one line for people
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, WarehouseError(f"reading the metrics failed: {first}")
