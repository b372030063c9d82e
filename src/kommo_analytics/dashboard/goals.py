"""Goals (and costs) as the Performance and Forecast pages show them: where to add them when
they are missing, the month's name, and the revenue still needed per working day. Pure, tested
rules; not forecasts."""

from __future__ import annotations

from datetime import date
from typing import Final, Literal

import streamlit as st
from babel.dates import format_skeleton

from kommo_analytics.dashboard import auth, filters
from kommo_analytics.dashboard import components as c
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

Input = Literal["goals", "costs"]
SETTINGS_PAGE: Final = "app_pages/settings.py"
# The query parameter naming the Settings page's tab, so a link opens the right one.
P_TAB: Final = next(iter(filters.PAGE_PARAMS))


def action(kind: Input, locale: Locale) -> str:
    """Where missing goals or costs are added: the Settings tab for an admin; for anyone else,
    which admin to ask (nothing in the dashboard sends anyone to a terminal)."""
    role = "admin" if auth.current_access().can_edit_settings else "other"
    return t(f"inputs.add.{kind}.{role}", locale)


def offer(kind: Input, locale: Locale) -> None:
    """The link to the Settings tab that adds ``kind``, for those who may use it."""
    if auth.current_access().can_edit_settings:
        st.page_link(SETTINGS_PAGE, label=t(f"inputs.link.{kind}", locale),
                     icon=":material/tune:",
                     query_params={P_TAB: kind, filters.P_LANG: locale})  # fmt: skip


def missing(message: str, kind: Input, locale: Locale, *, caption: bool = False) -> None:
    """An empty state for missing goals or costs: the message, then the way to add them."""
    (st.caption if caption else st.info)(message)
    offer(kind, locale)


def needed_per_working_day(
    goal: float | None, so_far: float, working_days_left: int
) -> float | None:
    """What still has to be won on each working day left to reach `goal`: the gap (goal −
    revenue so far) spread evenly over the working days left that the report counts
    (`forecast.working_days_left`: today when it is a working day, to the month's end, less the
    account calendar's public holidays — the forecast's pacing counts the same days).

    None without a goal, or when a gap remains but no working day does (no daily amount can
    close it: the page says so); 0 once the goal is reached. A plain division of facts, not a
    forecast: it assumes nothing about the deals still open.
    """
    if goal is None:
        return None
    gap = goal - so_far
    if gap <= 0:
        return 0.0
    if working_days_left <= 0:
        return None
    return gap / working_days_left


def month_label(month: str, locale: Locale) -> str:
    """The report's month ("2026-11") as the locale names it ("novembro de 2026")."""
    year, number = (int(part) for part in month.split("-"))
    return format_skeleton("yMMMM", date(year, number, 1), locale=i18n.babel_locale(locale))


def needed_text(needed: float | None, goal: float, so_far: float, currency: str | None,
                locale: Locale) -> str:  # fmt: skip
    if so_far >= goal:
        return t("performance.goal_reached", locale)
    if needed is None:
        return t("performance.no_days_left", locale)
    return c.fmt_money(needed, currency, locale)
