"""The shared sidebar: period, comparison, pipelines, sellers and language, kept in the URL.

The first half of this module is pure (dates in, dates out; no clock, no Streamlit) so the rules
can be tested directly: what each preset means, what the comparison period is, and how the state
is written to and read from a query string. The second half renders the sidebar and hands the pages a :class:`View`.

The URL is the source of truth for a fresh session, so a copied link reproduces the view:
``?lang=es&period=custom&from=2026-01-01&to=2026-03-31&compare=none&pipeline=1,2&user=7``.
Widget changes are written back to it on every render.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final

import pandas as pd
import streamlit as st

from kommo_analytics.dashboard import data
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service.account import Account
from kommo_analytics.service.health import Status, WarehouseState
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t


class Preset(StrEnum):
    TODAY = "today"
    LAST_7_DAYS = "last_7_days"
    LAST_30_DAYS = "last_30_days"
    LAST_90_DAYS = "last_90_days"
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    THIS_QUARTER = "this_quarter"
    THIS_YEAR = "this_year"
    CUSTOM = "custom"


class Comparison(StrEnum):
    PREVIOUS_PERIOD = "previous_period"
    PREVIOUS_YEAR = "previous_year"
    NONE = "none"


DEFAULT_PRESET: Final = Preset.LAST_30_DAYS
DEFAULT_COMPARISON: Final = Comparison.PREVIOUS_PERIOD

# Query-string names.
P_LANG: Final = "lang"
# Parameters a page reads itself: the Settings page's tab, named by another page's link.
PAGE_PARAMS: Final = frozenset({"tab"})
# The account on screen in an install of several (dashboard/accounts.py writes and reads it).
P_ACCOUNT: Final = "account"
P_PERIOD: Final = "period"
P_FROM: Final = "from"
P_TO: Final = "to"
P_COMPARE: Final = "compare"
P_PIPELINE: Final = "pipeline"
P_USER: Final = "user"
P_CHANNEL: Final = "channel"


@dataclass(frozen=True)
class FilterState:
    """Everything the sidebar selects. `start`/`end` are set only for the custom preset; the
    other presets are relative to today, so a shared link keeps meaning "the last 30 days"."""

    locale: Locale = i18n.DEFAULT_LOCALE
    preset: Preset = DEFAULT_PRESET
    start: date | None = None
    end: date | None = None
    comparison: Comparison = DEFAULT_COMPARISON
    pipelines: tuple[int, ...] = ()
    users: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()

    def period(self, today: date) -> tuple[date, date]:
        return resolve_preset(self.preset, today, self.start, self.end)


# -- pure rules ---------------------------------------------------------------------------------


def resolve_preset(
    preset: Preset, today: date, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The inclusive day range a preset means on `today` (a day in the account's time zone).

    Periods "to date" (this month, quarter, year) end today: later days have no data yet.
    """
    if preset is Preset.CUSTOM:
        if start is None or end is None:
            raise ValueError("the custom period needs a start and an end date")
        return (start, end) if start <= end else (end, start)
    if preset is Preset.TODAY:
        return today, today
    if preset is Preset.LAST_7_DAYS:
        return today - timedelta(days=6), today
    if preset is Preset.LAST_30_DAYS:
        return today - timedelta(days=29), today
    if preset is Preset.LAST_90_DAYS:
        return today - timedelta(days=89), today
    if preset is Preset.THIS_MONTH:
        return today.replace(day=1), today
    if preset is Preset.LAST_MONTH:
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if preset is Preset.THIS_QUARTER:
        return today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1), today
    return today.replace(month=1, day=1), today


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February has no twin in the year before
        return day.replace(year=day.year - 1, day=28)


def comparison_range(start: date, end: date, comparison: Comparison) -> tuple[date, date] | None:
    """The period to compare `start..end` (inclusive) with.

    The previous period is as many days, ending the day before `start`; the same period last
    year shifts both ends back one calendar year.
    """
    if comparison is Comparison.NONE:
        return None
    if comparison is Comparison.PREVIOUS_PERIOD:
        days = (end - start).days + 1
        return start - timedelta(days=days), start - timedelta(days=1)
    return _year_before(start), _year_before(end)


def _ids(value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    ids = set()
    for part in value.split(","):
        try:
            ids.add(int(part.strip()))
        except ValueError:
            continue  # a hand-edited link with a typo loses that id, not the whole view
    return tuple(sorted(ids))


def _keys(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(sorted({part.strip().lower() for part in value.split(",") if part.strip()}))


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def decode_params(params: Mapping[str, str]) -> FilterState:
    """The filter state a query string describes; anything unreadable falls back to its default
    (a stale or hand-edited link still opens)."""
    try:
        preset = Preset(params.get(P_PERIOD, DEFAULT_PRESET))
    except ValueError:
        preset = DEFAULT_PRESET
    try:
        comparison = Comparison(params.get(P_COMPARE, DEFAULT_COMPARISON))
    except ValueError:
        comparison = DEFAULT_COMPARISON
    start = end = None
    if preset is Preset.CUSTOM:
        start, end = _day(params.get(P_FROM)), _day(params.get(P_TO))
        if start is None or end is None:
            preset, start, end = DEFAULT_PRESET, None, None
        elif start > end:
            start, end = end, start
    return FilterState(
        locale=i18n.normalise_locale(params.get(P_LANG)),
        preset=preset,
        start=start,
        end=end,
        comparison=comparison,
        pipelines=_ids(params.get(P_PIPELINE)),
        users=_ids(params.get(P_USER)),
        channels=_keys(params.get(P_CHANNEL)),
    )


def encode_params(state: FilterState) -> dict[str, str]:
    """The query string for `state`; ``decode_params(encode_params(s)) == s``."""
    params = {P_LANG: state.locale, P_PERIOD: state.preset.value}
    if state.preset is Preset.CUSTOM and state.start is not None and state.end is not None:
        params[P_FROM] = state.start.isoformat()
        params[P_TO] = state.end.isoformat()
    params[P_COMPARE] = state.comparison.value
    if state.pipelines:
        params[P_PIPELINE] = ",".join(str(i) for i in sorted(state.pipelines))
    if state.users:
        params[P_USER] = ",".join(str(i) for i in sorted(state.users))
    if state.channels:
        params[P_CHANNEL] = ",".join(sorted(state.channels))
    return params


# -- the sidebar --------------------------------------------------------------------------------

VIEW_KEY: Final = "kommo_view"
_STATE_KEY: Final = "kommo_filters"  # the last render's FilterState and period

# Widget keys. Every filter widget but the language's is keyed per locale (see widget_key).
K_LANG: Final = "f_lang"
K_PERIOD: Final = "f_period"
K_FROM: Final = "f_from"
K_TO: Final = "f_to"
K_COMPARE: Final = "f_compare"
K_PIPELINES: Final = "f_pipelines"
K_USERS: Final = "f_users"
K_CHANNELS: Final = "f_channels"


def widget_key(name: str, locale: Locale) -> str:
    """A filter widget's key in `locale`. A widget that keeps its key keeps showing the label
    its options had when it was drawn, so after a language switch "Custom" would stay on screen;
    a new key per locale draws it afresh, seeded from the last render's state."""
    return f"{name}.{locale}"


@dataclass(frozen=True)
class View:
    """What every page renders from: the filters, resolved for this render's clock."""

    filters: FilterState
    start: date
    end: date
    comparison: tuple[date, date] | None  # kept for the metrics (issue 4); no page uses it yet
    now: datetime  # UTC, read once per render so every "how long ago" agrees
    today: date  # in the account's time zone
    zone: tzinfo
    warehouse: WarehouseState
    account: Account | None
    # The signed-in viewer's reach (None: everyone), for every Scope a page builds.
    allowed_sellers: tuple[int, ...] | None = None

    @property
    def locale(self) -> Locale:
        return self.filters.locale


@dataclass(frozen=True)
class _Options:
    account: Account | None
    pipelines: dict[int, str]
    users: dict[int, str]
    inactive: frozenset[int]
    channels: tuple[str, ...] = ()


def channel_label(key: str, locale: Locale) -> str:
    """The channel's name in `locale` (a channel from a user's own rules keeps its key)."""
    label_key = f"channel.{key}"
    return t(label_key, locale) if label_key in i18n.MESSAGES[i18n.DEFAULT_LOCALE] else key


def now_utc() -> datetime:
    """The render's clock (tests replace it to pin "today")."""
    return datetime.now(UTC)


def current_view() -> View:
    """The view `app.py` prepared for this render."""
    view = st.session_state[VIEW_KEY]
    assert isinstance(view, View)
    return view


def _load_options(
    warehouse: WarehouseState, allowed_sellers: tuple[int, ...] | None = None
) -> _Options:
    """The account and the choices the filters offer (none before the first sync); a viewer
    limited to some sellers is offered only them."""
    if not warehouse.ready:
        return _Options(None, {}, {}, frozenset())
    url, version, tables = warehouse.url, warehouse.version, warehouse.tables
    account = data.load_account(url, version)
    pipelines: dict[int, str] = {}
    users: dict[int, str] = {}
    inactive: frozenset[int] = frozenset()
    if "pipelines" in tables:
        frame = data.load_pipelines(url, version)
        pipelines = dict(zip(frame["id"].tolist(), frame["name"].tolist(), strict=True))
    if "users" in tables:
        frame = data.load_users(url, version)
        users = dict(zip(frame["id"].tolist(), frame["name"].tolist(), strict=True))
        if allowed_sellers is not None:
            users = {i: n for i, n in users.items() if i in allowed_sellers}
        # MySQL returns booleans as 0/1; an unknown state is not "inactive".
        inactive = frozenset(
            int(i)
            for i, active in zip(frame["id"], frame["is_active"], strict=True)
            if active is not None and not pd.isna(active) and not active
        )
    channels = account.channels if account is not None else ()
    return _Options(account, pipelines, users, inactive, channels)


def _seed(base: FilterState, period: tuple[date, date], options: _Options) -> Locale:
    """Give each widget of this render's locale its value, unless it already has one: from the
    last render, or from the URL on a session's first render. Returns the locale."""
    state = st.session_state
    state.setdefault(K_LANG, base.locale)
    locale = i18n.normalise_locale(state.get(K_LANG))
    state.setdefault(widget_key(K_PERIOD, locale), base.preset.value)
    state.setdefault(widget_key(K_COMPARE, locale), base.comparison.value)
    state.setdefault(widget_key(K_FROM, locale), period[0])
    state.setdefault(widget_key(K_TO, locale), period[1])
    # A multiselect's values must be among its options: ids that a sync removed, or that a link
    # from another account named, are dropped.
    for name, known, wanted in (
        (K_PIPELINES, options.pipelines, base.pipelines),
        (K_USERS, options.users, base.users),
        (K_CHANNELS, dict.fromkeys(options.channels), base.channels),
    ):
        key = widget_key(name, locale)
        state[key] = [i for i in state.get(key, list(wanted)) if i in known]
    return locale


def render_sidebar(now: datetime, allowed_sellers: tuple[int, ...] | None = None) -> View:
    """Draw the filters, sync them with the URL and return the view the pages render.

    ``allowed_sellers`` is the signed-in viewer's reach (None: everyone): the seller filter
    offers only those, and every scope built from the view carries it, so a ``user=`` in the
    URL cannot widen it."""
    warehouse = data.probe()
    try:
        options = _load_options(warehouse, allowed_sellers)
    except KommoAnalyticsError as exc:
        warehouse = replace(warehouse, status=Status.UNREADABLE, error=exc)
        options = _Options(None, {}, {}, frozenset())
    account, pipelines, users = options.account, options.pipelines, options.users
    # The account's zone, the override applied (service.account): the same "today" as the
    # metrics'.
    zone = account.zone if account is not None else UTC
    today = now.astimezone(zone).date()

    last = st.session_state.get(_STATE_KEY)
    if isinstance(last, tuple):
        base, last_period = last
    else:
        base = decode_params(st.query_params.to_dict())
        last_period = base.period(today)
    locale = _seed(base, last_period, options)

    def key(name: str) -> str:
        return widget_key(name, locale)

    sidebar = st.sidebar
    sidebar.header(t("sidebar.filters", locale))
    preset = Preset(
        sidebar.selectbox(
            t("filter.period", locale),
            [p.value for p in Preset],
            key=key(K_PERIOD),
            format_func=lambda p: t(f"preset.{p}", locale),
        )
    )
    start: date | None = None
    end: date | None = None
    if preset is Preset.CUSTOM:
        # One below the other: side by side, a sidebar is too narrow to show a whole date.
        date_format = i18n.DATE_INPUT_FORMAT[locale]
        picked_from = sidebar.date_input(
            t("filter.from", locale), key=key(K_FROM), format=date_format
        )
        picked_to = sidebar.date_input(t("filter.to", locale), key=key(K_TO), format=date_format)
        start = picked_from if isinstance(picked_from, date) else today
        end = picked_to if isinstance(picked_to, date) else today
        if start > end:
            sidebar.warning(t("filter.dates_swapped", locale))
            start, end = end, start
    period = resolve_preset(preset, today, start, end)
    if preset is not Preset.CUSTOM:
        # Switching to "custom" then starts from the range on screen, not from stale dates.
        st.session_state[key(K_FROM)], st.session_state[key(K_TO)] = period
    sidebar.caption(i18n.date_range(*period, locale))

    comparison = Comparison(
        sidebar.selectbox(
            t("filter.compare", locale),
            [c.value for c in Comparison],
            key=key(K_COMPARE),
            format_func=lambda c: t(f"compare.{c}", locale),
        )
    )
    compared = comparison_range(*period, comparison)
    if compared is not None:
        sidebar.caption(t("filter.compare_range", locale, range=i18n.date_range(*compared, locale)))

    chosen_pipelines = sidebar.multiselect(
        t("filter.pipelines", locale),
        list(pipelines),
        key=key(K_PIPELINES),
        format_func=lambda i: pipelines.get(i, str(i)),
        placeholder=t("filter.pipelines_all", locale),
        # Its "Select all" is English whatever the language, and empty already means all.
        select_all=False,
    )
    chosen_users = sidebar.multiselect(
        t("filter.users", locale),
        list(users),
        key=key(K_USERS),
        format_func=lambda i: (
            t("filter.user_inactive", locale, name=users.get(i, str(i)))
            if i in options.inactive
            else users.get(i, str(i))
        ),
        placeholder=t("filter.users_all", locale),
        select_all=False,
    )
    chosen_channels = sidebar.multiselect(
        t("filter.channels", locale),
        list(options.channels),
        key=key(K_CHANNELS),
        format_func=lambda c: channel_label(c, locale),
        placeholder=t("filter.channels_all", locale),
        select_all=False,
    )
    sidebar.divider()
    # Language names are written in their own language, the same in every locale, so this
    # widget keeps one key.
    sidebar.selectbox(
        t("filter.language", locale),
        list(i18n.LOCALES),
        key=K_LANG,
        format_func=i18n.language_name,
    )

    state = FilterState(
        locale=locale,
        preset=preset,
        start=period[0] if preset is Preset.CUSTOM else None,
        end=period[1] if preset is Preset.CUSTOM else None,
        comparison=comparison,
        pipelines=tuple(sorted(int(i) for i in chosen_pipelines)),
        users=tuple(sorted(int(i) for i in chosen_users)),
        channels=tuple(sorted(str(c) for c in chosen_channels)),
    )
    st.session_state[_STATE_KEY] = (state, period)
    # A page's own parameters (the Settings page's tab) are left for the page to read, and the
    # account for the switcher.
    asked = st.query_params.to_dict()
    kept = PAGE_PARAMS | {P_ACCOUNT}
    wanted = encode_params(state) | {k: v for k, v in asked.items() if k in kept}
    if asked != wanted:
        st.query_params.from_dict(wanted)
    return View(
        filters=state,
        start=period[0],
        end=period[1],
        comparison=compared,
        now=now,
        today=today,
        zone=zone,
        warehouse=warehouse,
        account=account,
        allowed_sellers=allowed_sellers,
    )
