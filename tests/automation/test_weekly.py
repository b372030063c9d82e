"""The weekly report's pure parts: ISO weeks, the default week, the pace, the formats and the
charts' labels. The report made from a synced warehouse is tested in
tests/cli/test_report_command.py."""

from __future__ import annotations

from datetime import date

import pytest

from kommo_analytics.automation import charts, weekly
from kommo_analytics.automation.weekly import IsoWeek, Kpi
from kommo_analytics.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "year", "week", "monday"),
    [
        ("2026-W20", 2026, 20, date(2026, 5, 11)),
        ("2026W20", 2026, 20, date(2026, 5, 11)),
        (" 2026-w07 ", 2026, 7, date(2026, 2, 9)),
        # 2026 starts on a Thursday, so it has 53 ISO weeks; its week 53 ends on 3 Jan 2027.
        ("2026-W53", 2026, 53, date(2026, 12, 28)),
        # ISO week 1 of 2027 starts on Monday 4 January.
        ("2027-W01", 2027, 1, date(2027, 1, 4)),
    ],
)
def test_an_iso_week_is_parsed_to_its_monday_and_sunday(
    text: str, year: int, week: int, monday: date
) -> None:
    parsed = weekly.parse_week(text)
    assert (parsed.year, parsed.week, parsed.monday) == (year, week, monday)
    assert (parsed.sunday - parsed.monday).days == 6
    assert str(parsed) == f"{year}-W{week:02d}"


@pytest.mark.parametrize("text", ["2025-W53", "2026-W00", "2026-W54", "2026-20", "W20", "", "x"])
def test_what_is_not_an_iso_week_is_refused_with_the_form_to_write(text: str) -> None:
    # 2025 starts on a Wednesday: 52 weeks only.
    with pytest.raises(ConfigError) as caught:
        weekly.parse_week(text)
    assert "2026-W20" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 11, 25), "2026-W47"),  # a Wednesday of W48: the week before
        (date(2026, 11, 23), "2026-W47"),  # Monday: the week that ended yesterday
        (date(2026, 11, 29), "2026-W47"),  # Sunday: W48 is still running
        (date(2026, 11, 30), "2026-W48"),
        (date(2027, 1, 4), "2026-W53"),  # across the year: 2026's 53rd week
    ],
)
def test_the_default_week_is_the_last_complete_one(today: date, expected: str) -> None:
    assert str(weekly.default_week(today)) == expected


def test_a_week_is_complete_only_after_its_sunday() -> None:
    w48 = weekly.parse_week("2026-W48")  # 23 to 29 November
    with pytest.raises(ConfigError, match="has not ended yet"):
        weekly.check_complete(w48, date(2026, 11, 29))
    weekly.check_complete(w48, date(2026, 11, 30))  # Monday after: fine


def test_weeks_shift_across_years() -> None:
    assert str(IsoWeek(2027, 1).shifted(-1)) == "2026-W53"
    assert str(IsoWeek(2026, 47).shifted(-7)) == "2026-W40"


def test_the_pace_is_the_gap_over_the_working_days_left() -> None:
    # 30 000 still needed over 4 working days: 7 500 a day.
    assert weekly.pace_per_working_day(30_000.0, 4) == 7_500.0
    assert weekly.pace_per_working_day(None, 4) is None  # no goal
    assert weekly.pace_per_working_day(-10.0, 4) is None  # goal already met
    assert weekly.pace_per_working_day(30_000.0, 0) is None  # the month's last day has passed


def test_formats_follow_the_locale() -> None:
    pt, en = weekly.Formats("pt-BR", "BRL"), weekly.Formats("en", "BRL")
    assert pt.money(86130.0).replace("\xa0", " ") == "R$ 86.130,00"
    assert en.money(86130.0) == "R$86,130.00"
    assert pt.pct(26.923) == "26,9 %"
    assert pt.hours(0.5) == "30 min" and pt.hours(2.5) == "2,5 h" and pt.hours(72) == "3 dias"
    assert weekly.Formats("pt-BR", None).money(1234.5) == "1.234,5"
    assert pt.number(None) == "—"


def test_the_change_is_in_points_for_rates_and_relative_otherwise() -> None:
    pt = weekly.Formats("pt-BR", "BRL")
    rate = Kpi("win_rate_pct", "pct", 26.9, 33.3)
    assert pt.change(rate) == "-6,4 p.p."  # 26,9 − 33,3 points
    leads = Kpi("leads", "number", 20.0, 28.0)
    assert pt.change(leads) == "-28,6 %"  # (20 − 28) / 28
    assert pt.change(Kpi("leads", "number", 5.0, 0.0)) == "—"  # no base to compare with
    assert pt.change(Kpi("leads", "number", None, 3.0)) == "—"


def test_a_target_is_shown_with_its_direction() -> None:
    pt = weekly.Formats("pt-BR", "BRL")
    assert pt.target(Kpi("sales_cycle_days", "days", 23.1, None, 30.0, "lower", True)) == (
        "≤ 30 dias"
    )
    assert pt.target(Kpi("win_rate_pct", "pct", 26.9, None, 25.0, "higher", True)) == "≥ 25 %"
    assert pt.target(Kpi("leads", "number", 20.0, 28.0)) == ""


def test_chart_axes_are_in_the_report_language() -> None:
    mondays = [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]
    svg = charts.weekly_trend(
        mondays, [25_000.0, 0.0, 86_130.0], title="Receita", locale="pt-BR", currency="BRL",
        money=True,
    )  # fmt: skip
    text = svg.replace("\xa0", " ")
    assert "16 de nov." in text and "R$ 20 mil" in text  # ticks every 20 000
    assert "Nov" not in text
    english = charts.weekly_trend(mondays, [1.0, 2.0, 3.0], title="Leads", locale="en")
    assert "Nov 16" in english
    assert svg == charts.weekly_trend(
        mondays,
        [25_000.0, 0.0, 86_130.0],
        title="Receita",
        locale="pt-BR",
        currency="BRL",
        money=True,
    )  # fmt: skip  (the same data give the same file: no timestamp or random id inside)
