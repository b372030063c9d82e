"""What the dashboard reads, through the read service (:mod:`kommo_analytics.service`), cached.

The service opens one short connection per query and closes it at once: a held DuckDB
connection would keep the sync from publishing (and keep showing the old file), which is why
results are cached with ``st.cache_data`` and connections never are.

Cached loaders take the warehouse's *version* as an argument: a cheap, uncached probe reads when
the last sync finished and when a stream last committed, so a new sync (or a mid-run publish)
changes the cache key and the next render reads fresh data, while the TTL only bounds memory.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import account, dead_letters, health, leads, quality
from kommo_analytics.service.account import Account
from kommo_analytics.service.health import Status, WarehouseState
from kommo_analytics.service.pages import Page, PageRequest
from kommo_analytics.service.quality import QualityRun
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import DEFAULT_DATA_DIR, load_settings, using_account
from kommo_analytics.text.i18n import Locale, t

CACHE_TTL_SECONDS: Final = 600


def database_url() -> str:
    """The warehouse of the account on screen. `kommo-analytics dashboard` hands the process the
    URL of the account it starts on (its `--db`, else that account's DATABASE_URL or default
    file); another account chosen with the switcher reads its own (dashboard/accounts.py)."""
    settings = load_settings()
    given = os.environ.get(ENV_DATABASE_URL)
    if given and settings.account_name == process_account():
        return given
    return settings.resolved_database_url


def process_account() -> str:
    """The account this dashboard process starts on (`--account`, else the default one): the
    one `kommo-analytics dashboard` hands a warehouse URL for, outside any switcher choice."""
    with using_account(None):
        return load_settings().account_name


def probe(url: str | None = None) -> WarehouseState:
    """What the warehouse holds and its version; never raises. Not cached: it is the cache key
    of everything else."""
    try:
        url = url or database_url()
    except KommoAnalyticsError as exc:
        return WarehouseState(Status.UNREADABLE, error=exc)
    return health.probe(url)


def setup_warnings(url: str) -> health.SetupWarnings:
    """Misspelt settings and files others can read (``url``: the probed warehouse, "" when it
    could not be); not cached: a fix shows at the next rerun, and it reads no more than the
    data folder's listing."""
    return health.setup_warnings(_data_dir(), url)


def data_dir() -> Path:
    """The settings' data folder (the default one when the settings are invalid)."""
    return _data_dir()


def _data_dir() -> Path:
    try:
        return load_settings().data_dir
    except KommoAnalyticsError:
        return DEFAULT_DATA_DIR  # the invalid setting itself is shown by the probe


def show_no_data(where: str, locale: Locale, action: str) -> None:
    """The one "nothing synced yet" advice of every page: where it looked, and ``action``,
    what the viewer can do about it in the app (dashboard/syncing.py words it by role)."""
    st.info(t("warehouse.no_data", locale, where=f"`{where}`", action=action))


def show_error(error: KommoAnalyticsError, locale: Locale) -> None:
    st.error(t("warehouse.unreadable", locale, message=error.message))
    if error.hint:
        st.info(t("warehouse.hint", locale, hint=error.hint))


# -- cached loaders: (url, version, ...) → data ------------------------------------------------


def load_account(url: str, version: str) -> Account | None:
    """The account, with the ``ACCOUNT_TIMEZONE`` and ``HOLIDAYS_COUNTRY`` settings applied as
    everywhere else."""
    settings = load_settings()
    return _load_account(url, version, settings.account_timezone, settings.holidays_country)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _load_account(
    url: str, version: str, timezone_override: str | None, holidays_country: str | None
) -> Account | None:
    return account.load(
        account.target(url),
        timezone_override=timezone_override,
        holidays_country=holidays_country,
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_pipelines(url: str, version: str) -> pd.DataFrame:
    return account.pipelines(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_users(url: str, version: str) -> pd.DataFrame:
    return account.users(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_runs(url: str, version: str, limit: int = health.RUNS_SHOWN) -> pd.DataFrame:
    # The data folder holds the writer's lock: a `running` run nobody holds it for was killed.
    return health.runs(account.target(url), limit, data_dir=_data_dir())


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_streams(url: str, version: str) -> pd.DataFrame:
    return health.streams(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_row_counts(url: str, version: str, tables: tuple[str, ...]) -> pd.DataFrame:
    return health.row_counts(account.target(url), tables)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_tracking_codes(url: str, version: str) -> pd.DataFrame:
    return health.tracking_codes(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_tracking_used(url: str, version: str) -> frozenset[str] | None:
    return health.tracking_used(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_leads_page(
    url: str, version: str, scope: Scope, timezone: str, request: PageRequest
) -> Page:
    """One page of the Leads explorer: leads created on the scope's days in `timezone`,
    searched and sorted as the request asks, and how many match."""
    return leads.page(account.target(url), scope, timezone, request)


def leads_rows(url: str, scope: Scope, timezone: str, request: PageRequest) -> pd.DataFrame:
    """The Leads explorer's rows for a download, at most ``leads.EXPORT_LIMIT`` (not cached:
    built when a button is clicked)."""
    return leads.export_rows(account.target(url), scope, timezone, request)


# -- data quality: stored runs of the checks (service/quality.py) ----------------------------------
# Keyed by the warehouse version like the rest (a sync stores a run before it publishes); the
# page's "run the checks" button clears them, since its run changes no version.


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_quality(url: str, version: str) -> QualityRun | None:
    return quality.latest_quality(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_quality_trend(url: str, version: str) -> list[tuple[datetime, float]]:
    return quality.quality_trend(account.target(url))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_failing_leads(url: str, version: str, lead_ids: tuple[int, ...]) -> pd.DataFrame:
    return quality.failing_leads(account.target(url), lead_ids)


def run_quality_checks(url: str) -> QualityRun:
    """Run and store the checks now (with the reconciliation against the API when an account is
    configured), then forget the cached runs so the page shows this one."""
    run = quality.run_checks(load_settings(), datetime.now(UTC), database_url=url)
    load_quality.clear()
    load_quality_trend.clear()
    return run


# -- the workers' dead-letter list (service/dead_letters.py) -----------------------------------
# Kept short: a job is given up on between syncs, which do not change the warehouse's version.
DEAD_LETTERS_TTL_SECONDS: Final = 30


@st.cache_data(ttl=DEAD_LETTERS_TTL_SECONDS, show_spinner=False)
def load_dead_letters(url: str) -> list[dead_letters.DeadLetter]:
    return dead_letters.dead_letters(account.target(url))


def dismiss_dead_letter(url: str, letter_id: str) -> bool:
    removed = dead_letters.remove(account.target(url), letter_id)
    load_dead_letters.clear()
    return removed
