"""Signing in to the dashboard, signing out, and what the signed-in viewer may see.

Without a users file (``DATA_DIR/users.json``) the dashboard is in local mode: no sign-in,
everything visible, as for one person on their own machine (`kommo-analytics dashboard` refuses
to serve any other address without users). Once the file exists everyone signs in, whatever the
address.

A session is signed in by its server-side state only (Streamlit's session state, never a
cookie): a new tab or a reload signs in again. The session keeps the password hash it signed in
with, so a password changed or a user removed with the CLI ends it at the next click, and the
user's record is read again on every run, so a changed role or link applies at once.
Failed sign-ins are counted in this process for all sessions (:class:`users.LoginThrottle`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Final

import streamlit as st

from kommo_analytics.dashboard import filters
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import users
from kommo_analytics.service.users import Role, User
from kommo_analytics.settings import MAIN_ACCOUNT, load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

# One per serving process: every session's failures count against the same limits.
THROTTLE: Final = users.LoginThrottle()

_SIGNED_IN: Final = "kommo_signed_in"  # (username, password hash, last activity)
_ACCESS: Final = "kommo_access"
_NOTICE: Final = "kommo_auth_notice"
K_LOGIN_LANG: Final = "login_lang"


@dataclass(frozen=True)
class Access:
    """The viewer of this run: a signed-in user, or nobody in local mode (full access), and
    the account on screen (a seller's Kommo users are an account's own)."""

    user: User | None = None
    account: str = MAIN_ACCOUNT

    @property
    def role(self) -> Role:
        return self.user.role if self.user is not None else "admin"

    @property
    def allowed_sellers(self) -> tuple[int, ...] | None:
        return self.user.allowed_sellers_in(self.account) if self.user is not None else None

    @property
    def can_edit_settings(self) -> bool:
        return self.user is None or self.user.can_edit_settings

    @property
    def sees_whole_account(self) -> bool:
        """Pages about the whole account (data health) are for those who see every seller."""
        return self.allowed_sellers is None


def clock() -> float:
    """Wall-clock seconds for idle timeouts and throttling (tests replace it)."""
    return time.time()


def users_file() -> Path:
    return users.users_path(load_settings().install_dir)


def expired(last_activity: float, now: float, minutes: int) -> bool:
    return now - last_activity > minutes * 60


def client_address() -> str:
    """Who is signing in, for throttling: the browser's address as the server sees it."""
    address = st.context.ip_address
    # None off a real connection (e.g. headless test runs): every such caller is one client.
    return address if isinstance(address, str) and address else "unknown"


def current_access() -> Access:
    """The access `app.py` decided for this run."""
    access = st.session_state.get(_ACCESS)
    return access if isinstance(access, Access) else Access()


def on_account(access: Access, account: str) -> Access:
    """This run's viewer on ``account`` (the switcher's choice, or the process's own), kept for
    the pages' :func:`current_access`."""
    access = replace(access, account=account)
    st.session_state[_ACCESS] = access
    return access


def require_access(keep_page: Callable[[Locale], None]) -> Access:
    """This run's viewer; when someone must sign in first, draw the sign-in form and stop.

    ``keep_page(locale)`` is called before the form: it registers the navigation without
    running a page, so the address a link named survives the sign-in."""
    path = users_file()
    if not path.exists():
        access = Access()
        st.session_state[_ACCESS] = access
        return access
    locale = i18n.normalise_locale(st.session_state.get(K_LOGIN_LANG) or
                                   st.query_params.get(filters.P_LANG))  # fmt: skip
    try:
        known = users.load(path)
    except KommoAnalyticsError as exc:
        st.error(t("auth.users_unreadable", locale, message=exc.message))
        st.stop()
    now = clock()
    signed_in = st.session_state.get(_SIGNED_IN)
    if isinstance(signed_in, tuple):
        username, digest, last_activity = signed_in
        user = next((u for u in known if u.username == username), None)
        if user is None or user.password_hash != digest:
            sign_out("auth.changed")
        elif expired(last_activity, now, load_settings().dashboard_session_minutes):
            sign_out("auth.expired")
        else:
            st.session_state[_SIGNED_IN] = (username, digest, now)
            access = Access(user)
            st.session_state[_ACCESS] = access
            return access
    st.session_state.pop(_ACCESS, None)
    sign_in_form(path, known, keep_page)
    st.stop()
    raise AssertionError("st.stop() ends the run")  # pragma: no cover


def sign_out(notice: str | None = None) -> None:
    st.session_state.pop(_SIGNED_IN, None)
    st.session_state.pop(_ACCESS, None)
    if notice is not None:
        st.session_state[_NOTICE] = notice


def _language_selector() -> Locale:
    """The language of the sign-in page: from the URL at first, then the reader's choice, which
    is written back to the URL so the dashboard keeps it after signing in."""
    st.session_state.setdefault(
        K_LOGIN_LANG, i18n.normalise_locale(st.query_params.get(filters.P_LANG))
    )
    locale = i18n.normalise_locale(st.session_state.get(K_LOGIN_LANG))
    st.selectbox(
        t("filter.language", locale),
        list(i18n.LOCALES),
        key=K_LOGIN_LANG,
        format_func=i18n.language_name,
    )
    if st.query_params.get(filters.P_LANG) != locale:
        st.query_params[filters.P_LANG] = locale
    return locale


def sign_in_form(path: Path, known: list[User], keep_page: Callable[[Locale], None]) -> None:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        locale = _language_selector()
        keep_page(locale)
        st.title(t("auth.title", locale))
        notice = st.session_state.pop(_NOTICE, None)
        if isinstance(notice, str):
            st.info(t(notice, locale))
        if not known:
            st.warning(t("auth.no_users", locale, command="kommo-analytics users add"))
        with st.form("sign_in"):
            username = st.text_input(t("auth.username", locale), key="login_username")
            password = st.text_input(t("auth.password", locale), type="password",
                                     key="login_password")  # fmt: skip
            submitted = st.form_submit_button(t("auth.submit", locale), type="primary")
        st.caption(t("auth.reset_hint", locale))
        if not submitted:
            return
        outcome = users.sign_in(path, username, password, throttle=THROTTLE,
                                client=client_address(), now=clock())  # fmt: skip
        if outcome.user is not None:
            user = outcome.user
            st.session_state[_SIGNED_IN] = (user.username, user.password_hash, clock())
            st.rerun()
        if outcome.wait_seconds > 0:
            wait = i18n.duration(timedelta(seconds=math.ceil(outcome.wait_seconds)), locale)
            st.error(t("auth.failed_wait", locale, wait=wait))
        else:
            st.error(t("auth.failed", locale))


def sidebar(access: Access, locale: Locale) -> None:
    """Who is signed in, with which role, and the sign-out button (nothing in local mode)."""
    if access.user is None:
        return
    bar = st.sidebar
    bar.divider()
    bar.caption(t("auth.signed_in_as", locale, name=access.user.username,
                  role=t(f"auth.role.{access.role}", locale)))  # fmt: skip
    if bar.button(t("auth.sign_out", locale), key="sign_out", icon=":material/logout:"):
        sign_out()
        st.rerun()


def refuse_unless_settings() -> None:
    """Stop a page only admins may use (it is not in the others' navigation, but a URL can
    still name it)."""
    if not current_access().can_edit_settings:
        locale = filters.current_view().locale
        st.error(t("auth.admins_only", locale))
        st.stop()


def refuse_unless_whole_account() -> None:
    if not current_access().sees_whole_account:
        locale = filters.current_view().locale
        st.error(t("auth.whole_account_only", locale))
        st.stop()
