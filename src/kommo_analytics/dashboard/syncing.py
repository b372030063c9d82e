"""Syncing from the dashboard: the Data health page's "Sync now" and "Full sync" buttons for
admins, the sync's progress and outcome, and what the empty states and the fixes of the page's
messages say instead of a command (nothing in the dashboard sends anyone to a terminal).

The sync runs as a child process (service/sync_start.py); the page is never blocked by it: a
fragment polls how it stands while it runs, and reruns the whole page once it has ended so the
new data is read.
"""

from __future__ import annotations

from typing import Final

import streamlit as st

from kommo_analytics.dashboard import auth, data, filters
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import sync_start
from kommo_analytics.service.health import WarehouseState
from kommo_analytics.service.sync_start import Launch, SyncNotStarted
from kommo_analytics.settings import Settings, load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

SYNC_PAGE: Final = "app_pages/data_health.py"
POLL_SECONDS: Final = 3.0
# Whether this session last saw a writer at work: when that ends, the whole page reruns once.
K_ACTIVE: Final = "sync.active"
K_NOW, K_FULL = "sync.now", "sync.full"


def can_sync() -> bool:
    return auth.current_access().can_edit_settings


def first_action(locale: Locale, *, here: bool = False, buttons: bool = True) -> str:
    """What fills an empty warehouse: the sync on the Data health page for an admin (``here``:
    on that page, whose ``buttons`` are shown unless no Kommo account is configured), asking an
    admin for anyone else."""
    if not can_sync():
        return t("sync.first.other", locale)
    if not here:
        return t("sync.first.admin", locale)
    return t("sync.first.here" if buttons else "sync.first.no_account", locale)


def offer(locale: Locale) -> None:
    """The link to the Data health page's sync, for those who may use it."""
    if can_sync():
        st.page_link(SYNC_PAGE, label=t("sync.link", locale), icon=":material/sync:",
                     query_params={filters.P_LANG: locale})  # fmt: skip


def show_problem(
    warehouse: WarehouseState, locale: Locale, *, here: bool = False, buttons: bool = True
) -> None:
    """A warehouse with nothing synced yet (what to do in the app) or that cannot be read."""
    if warehouse.error is not None:
        data.show_error(warehouse.error, locale)
        return
    data.show_no_data(warehouse.where, locale, first_action(locale, here=here, buttons=buttons))
    if not here:
        offer(locale)


def fixes(locale: Locale) -> dict[str, str]:
    """The ``{sync}`` and ``{full}`` of the messages' dashboard wording (``<key>.app``)."""
    role = "admin" if can_sync() else "other"
    return {
        "sync": t(f"sync.do.incremental.{role}", locale),
        "full": t(f"sync.do.full.{role}", locale),
    }


def section(view: filters.View) -> bool:
    """The sync's buttons, and how the last one stands; for admins only. Whether the buttons
    are shown (not without a Kommo account to sync from)."""
    # A warehouse that cannot be read is said once, by show_problem: no sync can write it either.
    if not can_sync() or view.warehouse.error is not None:
        return False
    locale = view.locale
    st.subheader(t("sync.title", locale))
    try:
        settings = load_settings()
        url = view.warehouse.url or data.database_url()
        active = _active(settings, url)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return False
    if settings.kommo_account_error() is not None:
        st.info(t("sync.no_account", locale))
        return False
    st.caption(t("sync.caption", locale))
    # Polled only while a writer is at work: an idle page makes no requests.
    status = st.fragment(run_every=POLL_SECONDS if active else None)(_status)
    status(view, settings, url)
    return True


def _active(settings: Settings, url: str) -> bool:
    launch = sync_start.last(url)
    return (launch is not None and launch.running) or sync_start.busy(settings, url)


def _status(view: filters.View, settings: Settings, url: str) -> None:
    locale = view.locale
    launch = sync_start.last(url)
    try:
        active = _active(settings, url)
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    if active:
        st.session_state[K_ACTIVE] = True
    elif st.session_state.pop(K_ACTIVE, False):
        st.rerun()  # it has just ended: read the new data, stop polling

    if launch is not None and launch.running:
        mode = "full" if launch.full else "incremental"
        now = filters.now_utc()
        st.info(t(f"sync.running.{mode}", locale, at=i18n.moment(launch.started_at, view.zone, locale),
                  ago=i18n.ago(launch.started_at, now, locale)))  # fmt: skip
    elif active:
        st.info(t("sync.busy", locale))
    elif launch is not None:
        _outcome(launch, view, locale)

    left, right = st.columns(2)
    if left.button(t("sync.now", locale), key=K_NOW, disabled=active, icon=":material/sync:"):
        _start(settings, url, full=False, locale=locale)
    if right.button(t("sync.full", locale), key=K_FULL, disabled=active,
                    icon=":material/history:"):  # fmt: skip
        _start(settings, url, full=True, locale=locale)


def _outcome(launch: Launch, view: filters.View, locale: Locale) -> None:
    at = i18n.moment(launch.started_at, view.zone, locale)
    if launch.returncode == 0:
        st.success(t("sync.done", locale, at=at))
        return
    st.error(t("sync.failed", locale, at=at))
    output = sync_start.output_tail(launch)
    if output:
        with st.expander(t("sync.output", locale)):
            st.code("\n".join(output), language=None)


def _start(settings: Settings, url: str, *, full: bool, locale: Locale) -> None:
    try:
        sync_start.start(settings, url, full=full, now=filters.now_utc())
    except SyncNotStarted as exc:
        key = "sync.no_account" if exc.reason == "no_account" else f"sync.refused.{exc.reason}"
        st.error(t(key, locale))
        if exc.reason == "not_started":
            with st.expander(t("sync.output", locale)):
                st.code(exc.message, language=None)
        return
    except KommoAnalyticsError as exc:
        data.show_error(exc, locale)
        return
    st.rerun()  # the whole page: the fragment starts polling
