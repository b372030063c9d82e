"""The account switcher: which of the install's accounts this browser session shows.

An install of one account shows no switcher, and everything reads as it always did. With two or
more (docs/architecture.md "Many accounts"), the sidebar offers the accounts the signed-in user
may see (:meth:`users.User.visible_accounts`; everyone sees all in local mode), and `app.py` runs
the whole page inside ``settings.using_account(chosen)``: every ``load_settings()`` of the run —
the warehouse, the data folder, goals, costs, channel rules, the sync's buttons — is that
account's. The choice is kept in the session (it survives a page change) and in the address
(``?account=acme``), so a link opens the right account; an address naming an account the viewer
may not see is refused, never shown.
"""

from __future__ import annotations

from typing import Final

import streamlit as st

from kommo_analytics.dashboard import auth, data, filters
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.settings import (
    MAIN_ACCOUNT,
    account_names,
    load_settings,
    read_register,
    using_account,
)
from kommo_analytics.text.i18n import Locale, t

K_ACCOUNT: Final = "account.chosen"  # the switcher's widget, and the session's choice
P_ACCOUNT: Final = filters.P_ACCOUNT


def install_accounts() -> list[str]:
    """Every account of the install, the one of .env first (the same from any account's
    settings: they share the install's folder)."""
    return account_names(load_settings())


def visible_accounts() -> list[str]:
    """The install's accounts the signed-in viewer may see, in the install's order (all of them
    in local mode; an admin always sees all)."""
    names = install_accounts()
    user = auth.current_access().user
    return names if user is None else user.visible_accounts(names)


def chosen_account() -> str:
    """The account this run shows: the switcher's choice, else the process's own."""
    chosen = st.session_state.get(K_ACCOUNT)
    return chosen if isinstance(chosen, str) else data.process_account()


def labels(names: list[str]) -> dict[str, str]:
    """What the switcher shows for each account: the register's display name, else its name;
    the account of .env is named as Kommo names it once it has been synced."""
    registered = read_register(load_settings().install_dir)
    shown = {name: registered[name].label if name in registered else name for name in names}
    if MAIN_ACCOUNT in shown:
        synced = _synced_name(MAIN_ACCOUNT)
        if synced:
            shown[MAIN_ACCOUNT] = synced
    return shown


def _synced_name(name: str) -> str | None:
    try:
        with using_account(name):
            warehouse = data.probe()
            if not warehouse.ready:
                return None
            account = data.load_account(warehouse.url, warehouse.version)
    except KommoAnalyticsError:
        return None  # the account's own pages say what is wrong with its warehouse
    return account.name if account is not None else None


def switcher(locale: Locale) -> str | None:
    """Draw the switcher and return the chosen account; None for a single-account install (no
    switcher: the process's account, as always). Stops the run with a message when the viewer
    may see none of the install's accounts."""
    names = install_accounts()
    if len(names) < 2:
        if P_ACCOUNT in st.query_params:
            del st.query_params[P_ACCOUNT]
        st.session_state.pop(K_ACCOUNT, None)
        return None
    visible = visible_accounts()
    if not visible:
        st.warning(t("switcher.none_visible", locale))
        st.stop()
    if st.session_state.get(K_ACCOUNT) not in visible:
        # A new session (or an account taken away from this viewer): the address's choice when
        # it may be shown, else the process's account, else the first one the viewer sees.
        asked = st.query_params.get(P_ACCOUNT)
        own = data.process_account()
        fallback = own if own in visible else visible[0]
        if asked and asked not in visible:
            st.warning(t("switcher.refused", locale))
        st.session_state[K_ACCOUNT] = asked if asked in visible else fallback
    if len(visible) == 1:
        # Nothing to choose: no switcher, as in an install of one account.
        chosen = visible[0]
        st.session_state[K_ACCOUNT] = chosen
        if st.query_params.get(P_ACCOUNT) != chosen:
            st.query_params[P_ACCOUNT] = chosen
        return chosen
    shown = labels(visible)
    chosen = st.sidebar.selectbox(
        t("switcher.label", locale),
        visible,
        key=K_ACCOUNT,
        format_func=lambda name: shown.get(name, name),
    )
    chosen = str(chosen)
    if st.query_params.get(P_ACCOUNT) != chosen:
        st.query_params[P_ACCOUNT] = chosen
    return chosen
