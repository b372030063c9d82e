"""The consolidated view as the dashboard reads and edits it: which accounts a viewer sees, each
account's reports (cached per account, warehouse version and period), and the Settings page's
tabs for the exchange rates and the stage mapping (admins only: the page refuses others).

The combination itself is pure (``metrics/consolidated.py``) and cheap, so it runs on every
render from the cached reports, the rates and the mapping as they are now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Final, TypeVar

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import accounts, auth, filters, goals, metrics_data
from kommo_analytics.dashboard import data as dashboard_data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.errors import InputFileError, KommoAnalyticsError, Problem
from kommo_analytics.metrics.consolidated import AccountReports
from kommo_analytics.service import consolidated as service
from kommo_analytics.settings import Settings, account_names
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

ALL_ACCOUNTS_PAGE: Final = "app_pages/all_accounts.py"
TABS: Final = ("rates", "stage_map")
GRID_SOURCE: Final = "dashboard"
CACHE_TTL_SECONDS: Final = dashboard_data.CACHE_TTL_SECONDS


def visible_accounts() -> list[str]:
    """The accounts the signed-in viewer may see, in the install's order (the switcher's
    rule: ``dashboard/accounts.py``)."""
    return accounts.visible_accounts()


def is_multi_account() -> bool:
    """Whether the viewer sees two accounts or more (the All accounts page and its Settings
    tabs are shown only then: a single-account install stays as it was)."""
    try:
        return len(visible_accounts()) >= 2
    except KommoAnalyticsError:
        return False


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _account_reports(
    name: str, version: str, start: date, end: date, as_of: datetime, reporting: str, label: str
) -> AccountReports:
    # `version` is the key only: the account's warehouse version and model build.
    return service.account_reports(name, start, end, as_of, reporting, label=label)


def account_version(name: str) -> tuple[str, str] | None:
    """The account's warehouse URL and its version (the cache key of its reports); None when
    its model is not built yet."""
    url = service.account_settings(name).resolved_database_url
    state = dashboard_data.probe(url)
    if not state.ready:
        return None
    stamp = metrics_data.model_stamp(url)
    return (url, f"{state.version}|{stamp}") if stamp else None


def account_reports(
    name: str, version: str, start: date, end: date, as_of: datetime, reporting: str
) -> AccountReports:
    settings = service.install_settings()
    return _account_reports(name, version, start, end, as_of, reporting,
                            service.label_of(settings, name))  # fmt: skip


def account_currency(name: str) -> str | None:
    return service.loaded(name).currency


def offer_settings(tab: str, locale: Locale) -> None:
    """Where rates or the mapping are entered: the Settings tab for an admin, else whom to ask."""
    if auth.current_access().can_edit_settings:
        st.page_link(goals.SETTINGS_PAGE, label=t(f"consolidated.link.{tab}", locale),
                     icon=":material/tune:",
                     query_params={goals.P_TAB: tab, filters.P_LANG: locale})  # fmt: skip
    else:
        st.caption(t(f"consolidated.ask_admin.{tab}", locale))


# -- the Settings page's tabs ---------------------------------------------------------------------


def _said(problem: Problem, locale: Locale) -> str:
    where = f"{problem.column}: " if problem.column else ""
    value = f"“{problem.value}” " if problem.value is not None else ""
    return t("consolidated.grid.row", locale, row=problem.line - 1,
             problem=f"{where}{value}{problem.message}")  # fmt: skip


def _grid_text(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[str, int]:
    """The grid's filled rows as the CSV its file would hold; how many rows."""
    rows = [
        [("" if pd.isna(v) else str(v)) for v in (row.get(c) for c in columns)]
        for row in frame.to_dict("records")
    ]
    rows = [r for r in rows if any(v.strip() for v in r)]
    text = pd.DataFrame(rows, columns=list(columns)).to_csv(index=False) if rows else ""
    return text, len(rows)


T = TypeVar("T")


def _stored_or_error(read: Callable[[Settings], list[T]], settings: Settings,
                     locale: Locale) -> list[T]:  # fmt: skip
    """The stored rows; a file damaged by hand is said with its bad lines (the grid then
    starts empty, and saving it replaces the file)."""
    try:
        return read(settings)
    except InputFileError as exc:
        st.error(t("consolidated.file_refused", locale, name=exc.source) + "\n\n" + "\n".join(
            f"- {p}" for p in exc.problems))  # fmt: skip
        return []


def render_rates(view: View, settings: Settings) -> None:
    locale = view.locale
    st.caption(t("consolidated.rates.caption", locale))
    stored = _stored_or_error(service.read_rates, settings, locale)
    rows = [
        {"month": f"{r.month:%Y-%m}", "from_currency": r.from_currency,
         "to_currency": r.to_currency, "rate": str(r.rate)}
        for r in stored
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(service.RATES_COLUMNS)).astype("string")
    config = {name: st.column_config.TextColumn(t(f"consolidated.rates.col.{name}", locale))
              for name in service.RATES_COLUMNS}  # fmt: skip
    edited = st.data_editor(frame, column_config=config, num_rows="dynamic", hide_index=True,
                            width="stretch", key="consolidated.rates.grid")  # fmt: skip
    if st.button(t("consolidated.rates.save", locale), type="primary", key="rates.save"):
        text, count = _grid_text(edited, service.RATES_COLUMNS)
        _save(service.save_rates_text, settings, text, "consolidated.rates.saved", count, locale)


def _save(
    write: Callable[..., object],
    settings: Settings,
    text: str,
    saved: str,
    count: int,
    locale: Locale,
) -> None:
    """Save a grid's text through the file's own parser: its line problems, or a failure, said
    on screen; nothing is stored while a line is bad."""
    try:
        write(settings, text, source=GRID_SOURCE)
    except InputFileError as exc:
        st.error(t("consolidated.grid.refused", locale) + "\n\n" + "\n".join(
            f"- {_said(p, locale)}" for p in exc.problems))  # fmt: skip
    except (KommoAnalyticsError, OSError) as exc:
        st.error(t("settings.save_failed", locale, message=str(exc)))
    else:
        st.success(t(saved, locale, count=i18n.number(count, locale)))


def render_stage_map(view: View, settings: Settings) -> None:
    locale = view.locale
    st.caption(t("consolidated.stage_map.caption", locale))
    stored = _stored_or_error(service.read_stage_map, settings, locale)
    rows = [vars(r) for r in stored]
    # Every open stage of every account not in a row yet, with no common stage, for the admin
    # to name (a row written with ids instead of names is kept as it is).
    named = {(r["account"], r["pipeline"].casefold(), r["stage"].casefold()) for r in rows}
    rows += [
        {"account": name, "pipeline": pipeline, "stage": stage, "common_stage": ""}
        for name in account_names(settings)
        for pipeline, stage in _stages(name)
        if (name, pipeline.casefold(), stage.casefold()) not in named
    ]
    frame = pd.DataFrame(rows, columns=list(service.STAGE_MAP_COLUMNS)).astype("string")
    config = {name: st.column_config.TextColumn(t(f"consolidated.stage_map.col.{name}", locale))
              for name in service.STAGE_MAP_COLUMNS}  # fmt: skip
    edited = st.data_editor(frame, column_config=config, num_rows="dynamic", hide_index=True,
                            width="stretch", key="consolidated.stage_map.grid")  # fmt: skip
    if st.button(t("consolidated.stage_map.save", locale), type="primary", key="stage_map.save"):
        # A row left without a common stage is a stage not mapped (the page lists those).
        kept = edited[edited["common_stage"].fillna("").str.strip() != ""]
        text, count = _grid_text(kept, service.STAGE_MAP_COLUMNS)
        _save(service.save_stage_map_text, settings, text, "consolidated.stage_map.saved", count,
              locale)  # fmt: skip


def _stages(name: str) -> list[tuple[str, str]]:
    try:
        return service.stages_of(name)
    except KommoAnalyticsError:
        return []  # an account not synced yet has no stages to offer


def render(view: View, tab: str) -> None:
    settings = service.install_settings()
    {"rates": render_rates, "stage_map": render_stage_map}[tab](view, settings)
