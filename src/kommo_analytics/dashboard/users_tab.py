"""The Settings page's Users tab: who may sign in, with which role, which of the install's
accounts they see and which Kommo users a seller is — what `kommo-analytics users` does, for an
admin in the app, so nobody is sent to a terminal to let a colleague in.

Every write goes through ``service/users.py`` (its lock, its checks, its password hashing). The
tab checks what a person can get wrong first and says it in the reader's language; the
service's own refusals are the backstop. In local mode (no users file, everything open) the tab
offers to create the first administrator, after which everyone signs in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import accounts, auth, metrics_data
from kommo_analytics.dashboard.filters import View
from kommo_analytics.errors import ConfigError, KommoAnalyticsError
from kommo_analytics.service import account, inputs, users
from kommo_analytics.service.users import ROLES, Role, User
from kommo_analytics.settings import Settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

TAB: Final = "users"
_NOTICE: Final = "users.notice"  # a success said after the rerun that shows its result


def _problem(exc: KommoAnalyticsError, locale: Locale) -> str:
    return t("settings.problem", locale, message=exc.message, hint=exc.hint)


def _sellers(view: View) -> list[inputs.UserRef]:
    """The Kommo users of the account on screen (none before its first model build)."""
    if not view.warehouse.ready or not metrics_data.model_stamp(view.warehouse.url):
        return []
    found = inputs.sellers(account.target(view.warehouse.url))
    return sorted(found, key=lambda s: (s.name or s.email or str(s.id)).casefold())


def _seller_label(seller: inputs.UserRef) -> str:
    return seller.name or seller.email or str(seller.id)


def check_new(
    username: str, password: str, repeated: str, known: Sequence[User], locale: Locale
) -> str | None:
    """What is wrong with a new user's name and password, in the reader's words; None: nothing."""
    try:
        name = users.normalise_username(username)
    except ConfigError:
        return t("users.bad_name", locale)
    if any(u.username == name for u in known):
        return t("users.exists", locale, name=name)
    return check_password(password, repeated, locale)


def check_password(password: str, repeated: str, locale: Locale) -> str | None:
    if len(password) < users.MIN_PASSWORD_LENGTH:
        return t("users.short_password", locale, count=users.MIN_PASSWORD_LENGTH)
    if password != repeated:
        return t("users.passwords_differ", locale)
    return None


def is_last_admin(user: User, known: Sequence[User]) -> bool:
    return user.role == "admin" and sum(u.role == "admin" for u in known) == 1


def _said_notice() -> None:
    notice = st.session_state.pop(_NOTICE, None)
    if isinstance(notice, str):
        st.success(notice)


def _done(message: str) -> None:
    st.session_state[_NOTICE] = message
    st.rerun()


def _passwords(label: str, key: str, repeat_key: str, locale: Locale) -> tuple[str, str]:
    """A password field and the one that repeats it (inside a form)."""
    password = st.text_input(label, type="password", key=key)
    repeated = st.text_input(t("users.repeat_password", locale), type="password", key=repeat_key)
    return password, repeated


# -- local mode ---------------------------------------------------------------------------------


def _first_admin(path: Path, locale: Locale) -> None:
    st.info(t("users.local_mode", locale))
    with st.form("users.first", clear_on_submit=False):
        username = st.text_input(t("auth.username", locale), key="users.first.name")
        password, repeated = _passwords(t("auth.password", locale), "users.first.password",
                                        "users.first.repeat", locale)  # fmt: skip
        submitted = st.form_submit_button(t("users.create_admin", locale), type="primary")
    if not submitted:
        return
    wrong = check_new(username, password, repeated, [], locale)
    if wrong:
        st.error(wrong)
        return
    try:
        users.add(path, username, "admin", password)
    except KommoAnalyticsError as exc:
        st.error(_problem(exc, locale))
        return
    # From the next run on the users file exists: this browser signs in like everyone else.
    _done(t("users.admin_created", locale, name=users.normalise_username(username)))


# -- with users ---------------------------------------------------------------------------------


def _role(role: Role, locale: Locale) -> str:
    return t(f"auth.role.{role}", locale)


def users_table(
    known: Sequence[User],
    here: str,
    sellers: Sequence[inputs.UserRef],
    labels: dict[str, str] | None,
    locale: Locale,
) -> pd.DataFrame:
    """One row a user: name, role, e-mail, the accounts seen (with several accounts) and the
    Kommo users a seller is in the account on screen."""
    names = {s.id: _seller_label(s) for s in sellers}
    everyone = t("users.everyone", locale)

    def linked(user: User) -> str:
        if user.role != "seller":
            return everyone
        ids = user.kommo_ids_in(here)
        if not ids:
            return t("users.none_linked", locale)
        return ", ".join(names.get(i, f"#{i}") for i in ids)

    frame: dict[str, list[str]] = {
        t("auth.username", locale): [u.username for u in known],
        t("users.col.role", locale): [_role(u.role, locale) for u in known],
        t("users.col.email", locale): [u.email or "" for u in known],
    }
    if labels is not None:
        frame[t("users.col.accounts", locale)] = [
            t("users.all_accounts", locale)
            if u.role == "admin" or u.accounts is None
            else ", ".join(labels.get(a, a) for a in u.accounts)
            for u in known
        ]
    frame[t("users.col.sellers", locale)] = [linked(u) for u in known]
    return pd.DataFrame(frame)


def _add(path: Path, known: Sequence[User], ctx: _Context) -> None:
    locale = ctx.locale
    with st.form("users.add", clear_on_submit=False):
        username = st.text_input(t("auth.username", locale), key="users.add.name")
        email = st.text_input(t("users.col.email", locale), key="users.add.email")
        role = st.selectbox(t("users.col.role", locale), ROLES, index=ROLES.index("seller"),
                            format_func=lambda r: _role(r, locale), key="users.add.role")  # fmt: skip
        st.caption(t("users.roles_explained", locale))
        ids = _seller_picker(ctx, (), "users.add.sellers")
        chosen = _accounts_picker(ctx, None, "users.add.accounts")
        password, repeated = _passwords(t("auth.password", locale), "users.add.password",
                                        "users.add.repeat", locale)  # fmt: skip
        submitted = st.form_submit_button(t("users.add", locale), type="primary")
    if not submitted:
        return
    wrong = check_new(username, password, repeated, known, locale)
    if wrong:
        st.error(wrong)
        return
    try:
        users.add(path, username, str(role), password, email=email or None,
                  kommo_user_ids=ids if role == "seller" else (), account=ctx.here,
                  accounts=None if role == "admin" else chosen,
                  known_accounts=ctx.account_names)  # fmt: skip
    except KommoAnalyticsError as exc:
        st.error(_problem(exc, locale))
        return
    _done(t("users.added", locale, name=users.normalise_username(username)))


class _Context:
    """What the forms need to know of the install and the account on screen."""

    def __init__(self, view: View) -> None:
        self.locale: Locale = view.locale
        self.here = auth.current_access().account
        self.sellers = _sellers(view)
        self.account_names = accounts.install_accounts()
        # The accounts column and picker only with two accounts or more.
        self.labels = accounts.labels(self.account_names) if len(self.account_names) > 1 else None
        self.here_label = (self.labels or {}).get(self.here, self.here)


def _seller_picker(ctx: _Context, current: Sequence[int], key: str) -> list[int]:
    locale = ctx.locale
    if not ctx.sellers:
        st.caption(t("users.no_sellers_yet", locale))
        return list(current)
    names = {s.id: _seller_label(s) for s in ctx.sellers}
    # A link to a Kommo user the model no longer lists is kept (shown by its id), not dropped.
    options = [*names, *(i for i in current if i not in names)]
    picked = st.multiselect(
        t("users.sellers", locale, account=ctx.here_label) if ctx.labels
        else t("users.sellers_one", locale),
        options,
        default=list(current),
        format_func=lambda i: names.get(i, f"#{i}"),
        help=t("users.sellers_help", locale),
        key=key,
    )  # fmt: skip
    return [int(i) for i in picked]


def _accounts_picker(ctx: _Context, current: Sequence[str] | None, key: str) -> list[str] | None:
    """The accounts a manager or seller sees (None: every one, also those added later)."""
    if ctx.labels is None:
        return None
    labels = ctx.labels
    picked = st.multiselect(
        t("users.accounts", ctx.locale),
        ctx.account_names,
        default=[a for a in current or () if a in ctx.account_names],
        format_func=lambda name: labels.get(name, name),
        help=t("users.accounts_help", ctx.locale),
        key=key,
    )
    return [str(a) for a in picked] or None


def _edit(path: Path, known: Sequence[User], ctx: _Context) -> None:
    locale = ctx.locale
    names = [u.username for u in known]
    chosen = st.selectbox(t("users.pick", locale), names, key="users.edit.who")
    user = next(u for u in known if u.username == chosen)
    me = auth.current_access().user
    st.caption(t("users.is", locale, name=user.username, role=_role(user.role, locale)))
    if user.role == "seller" or (ctx.labels is not None and user.role != "admin"):
        with st.form(f"users.edit.{user.username}"):
            ids = (
                _seller_picker(ctx, user.kommo_ids_in(ctx.here), f"users.edit.sellers.{chosen}")
                if user.role == "seller"
                else list(user.kommo_ids_in(ctx.here))
            )
            seen = _accounts_picker(ctx, user.accounts, f"users.edit.accounts.{chosen}")
            if st.form_submit_button(t("users.save_access", locale), type="primary"):
                try:
                    if user.role == "seller" and ctx.sellers:
                        users.link(path, user.username, ids, account=ctx.here)
                    if ctx.labels is not None:
                        users.set_accounts(path, user.username, seen, ctx.account_names)
                except KommoAnalyticsError as exc:
                    st.error(_problem(exc, locale))
                else:
                    _done(t("users.access_saved", locale, name=user.username))
    with st.form(f"users.password.{user.username}", clear_on_submit=True):
        password, repeated = _passwords(t("users.new_password", locale),
                                        f"users.password.new.{chosen}",
                                        f"users.password.repeat.{chosen}", locale)  # fmt: skip
        if st.form_submit_button(t("users.change_password", locale)):
            wrong = check_password(password, repeated, locale)
            if wrong:
                st.error(wrong)
            else:
                try:
                    users.set_password(path, user.username, password)
                except KommoAnalyticsError as exc:
                    st.error(_problem(exc, locale))
                else:
                    # Their open sessions end at their next click (the hash changed); so does
                    # this one when it is their own.
                    _done(t("users.password_changed", locale, name=user.username))
    if is_last_admin(user, known):
        st.caption(t("users.last_admin", locale))
        return
    if me is not None and me.username == user.username:
        st.caption(t("users.not_yourself", locale))
        return
    sure = st.checkbox(t("users.remove_confirm", locale, name=user.username),
                       key=f"users.remove.sure.{chosen}")  # fmt: skip
    if st.button(t("users.remove", locale), disabled=not sure, key=f"users.remove.{chosen}"):
        try:
            users.remove(path, user.username)
        except KommoAnalyticsError as exc:
            st.error(_problem(exc, locale))
        else:
            _done(t("users.removed", locale, name=user.username))


def render(view: View, settings: Settings) -> None:
    locale = view.locale
    _said_notice()
    path = users.users_path(settings.install_dir)
    try:
        known = users.load(path)
    except KommoAnalyticsError as exc:
        st.error(_problem(exc, locale))
        return
    if not known:
        _first_admin(path, locale)
        return
    ctx = _Context(view)
    st.caption(t("users.caption", locale))
    st.dataframe(users_table(known, ctx.here, ctx.sellers, ctx.labels, locale),
                 hide_index=True, width="stretch")  # fmt: skip
    st.subheader(t("users.edit_heading", locale))
    _edit(path, known, ctx)
    st.subheader(t("users.add_heading", locale))
    _add(path, known, ctx)
    if not ctx.sellers:
        return
    unlinked = [u.username for u in known if u.role == "seller" and not u.kommo_ids_in(ctx.here)]
    if unlinked:
        st.warning(t("users.unlinked", locale, names=", ".join(unlinked),
                     count=i18n.number(len(unlinked), locale)))  # fmt: skip
