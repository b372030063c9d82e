"""Working days on hand-picked months whose holidays are known, and how the calendar is chosen."""

from __future__ import annotations

from datetime import date

import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.workdays import (
    WEEKENDS_ONLY,
    WorkCalendar,
    calendar_for,
    parse_country,
    working_days_left,
)

BR = WorkCalendar("BR", None, "setting")
BR_SP = WorkCalendar("BR", "SP", "setting")
MX = WorkCalendar("MX", None, "setting")
APRIL_2025, MARCH_2025 = date(2025, 4, 1), date(2025, 3, 1)


def test_brazil_april_2025_less_good_friday_and_tiradentes() -> None:
    # April 2025 starts on a Tuesday: 4 + 5 + 5 + 5 + 3 = 22 weekdays. Good Friday (18, Easter
    # being the 20th) and Tiradentes (Monday 21) are national holidays: 20 working days.
    assert WEEKENDS_ONLY.working_days(date(2025, 4, 1), date(2025, 4, 30)) == 22
    assert BR.working_days(date(2025, 4, 1), date(2025, 4, 30)) == 20
    assert not BR.is_working_day(date(2025, 4, 18)) and not BR.is_working_day(date(2025, 4, 21))


def test_carnival_is_a_working_day_in_brazil() -> None:
    # March 2025 starts on a Saturday: 5 + 5 + 5 + 5 + 1 (Monday 31) = 21 weekdays. Carnival
    # (Monday 3 and Tuesday 4) is an optional day ("ponto facultativo"), not a public holiday,
    # so all 21 are working days.
    assert BR.working_days(date(2025, 3, 1), date(2025, 3, 31)) == 21
    assert BR.is_working_day(date(2025, 3, 3)) and BR.is_working_day(date(2025, 3, 4))


def test_a_subdivision_adds_its_own_holidays() -> None:
    # July 2025 starts on a Tuesday: 4 + 5 + 5 + 5 + 4 = 23 weekdays, no national holiday.
    # São Paulo adds 9 July (Revolução Constitucionalista, a Wednesday): 22.
    assert BR.working_days(date(2025, 7, 1), date(2025, 7, 31)) == 23
    assert BR_SP.working_days(date(2025, 7, 1), date(2025, 7, 31)) == 22


def test_mexico_february_2025_less_constitution_day() -> None:
    # February 2025 starts on a Saturday: four full weeks, 20 weekdays. Mexico's Constitution
    # Day is the first Monday of February (the 3rd): 19. Brazil has none that month: 20.
    assert MX.working_days(date(2025, 2, 1), date(2025, 2, 28)) == 19
    assert BR.working_days(date(2025, 2, 1), date(2025, 2, 28)) == 20


def test_without_a_country_only_weekends_are_off() -> None:
    calendar = calendar_for(None, "")
    assert calendar == WEEKENDS_ONLY and calendar.code is None
    # April 2025 has 22 weekdays; Good Friday and Tiradentes count.
    assert working_days_left(APRIL_2025, date(2025, 4, 1), calendar) == 22


def test_working_days_left_counts_today_when_it_is_a_working_day() -> None:
    # Thursday 17 April 2025: the 17th itself (the day is not over), then 22–25 and 28–30
    # (7; the 18th and 21st are holidays) = 8.
    assert working_days_left(APRIL_2025, date(2025, 4, 17), BR) == 8
    # On Good Friday itself the day is not a working day: the same 7 after it.
    assert working_days_left(APRIL_2025, date(2025, 4, 18), BR) == 7
    # On Saturday 19: the same 7.
    assert working_days_left(APRIL_2025, date(2025, 4, 19), BR) == 7
    # A month still ahead counts whole: May 2025 has 22 weekdays less Thursday 1 May = 21.
    assert working_days_left(date(2025, 5, 1), date(2025, 4, 17), BR) == 21
    # A month already past has none left.
    assert working_days_left(MARCH_2025, date(2025, 4, 17), BR) == 0


def test_the_setting_wins_over_the_account() -> None:
    assert calendar_for("MX", "BR") == WorkCalendar("MX", None, "setting")
    assert calendar_for("BR-SP", None).code == "BR-SP"


@pytest.mark.parametrize(
    ("raw", "code"),
    [("BR", "BR"), (" br ", "BR"), ("bra", "BR"), ("mx", "MX"), ("br-sp", "BR-SP")],
)
def test_the_accounts_country_is_read_leniently(raw: str, code: str) -> None:
    calendar = calendar_for(None, raw)
    assert (calendar.code, calendar.source) == (code, "account")


@pytest.mark.parametrize("raw", ["Brasil", "XX", "??", "B R"])
def test_an_unknown_account_country_means_weekends_only_and_says_what_it_was(raw: str) -> None:
    calendar = calendar_for(None, raw)
    assert (calendar.code, calendar.source, calendar.account_country) == (None, "none", raw)


def test_a_wrong_setting_names_valid_examples() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_country("Brazil")
    assert "'Brazil'" in caught.value.message and "BR-SP" in caught.value.hint
    with pytest.raises(ConfigError) as caught:
        parse_country("BR-XX")
    assert "'XX'" in caught.value.message and "BR-SP" in caught.value.hint
