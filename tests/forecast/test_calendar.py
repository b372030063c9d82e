"""Working days: Monday to Friday less Brazil's national holidays."""

from __future__ import annotations

from datetime import date

from kommo_analytics.forecast.calendar import brazil_holidays, easter, working_days


def test_easter_on_known_years() -> None:
    assert easter(2024) == date(2024, 3, 31)
    assert easter(2025) == date(2025, 4, 20)
    assert easter(2026) == date(2026, 4, 5)
    assert easter(2027) == date(2027, 3, 28)


def test_brazils_national_holidays() -> None:
    days = brazil_holidays(2026)
    # Good Friday is Easter (5 April) − 2; 20 November is national from 2024 on.
    assert date(2026, 4, 3) in days and date(2026, 11, 20) in days
    assert date(2023, 11, 20) not in brazil_holidays(2023)
    # Carnival and Corpus Christi are optional days, not national holidays.
    assert date(2026, 2, 17) not in days and date(2026, 6, 4) not in days
    assert len(days) == 10


def test_working_days() -> None:
    # December 2026: 23 weekdays, Christmas on a Friday.
    assert working_days(date(2026, 12, 1), date(2027, 1, 1)) == 22
    # November 2026: 21 weekdays less Monday 2 (Finados) and Friday 20; the 15th is a Sunday.
    assert working_days(date(2026, 11, 1), date(2026, 12, 1)) == 19
    assert working_days(date(2026, 11, 28), date(2026, 11, 30)) == 0  # a weekend
    assert working_days(date(2026, 12, 1), date(2026, 12, 1)) == 0
