"""Working days: Monday to Friday less one country's public holidays, and the one rule for how
many of them a month has left.

The holidays come from the `holidays` package (public holidays only: Brazil's Carnival and
Corpus Christi are optional days there, "ponto facultativo", and count as working days). Which
country — and subdivision, whose own public holidays are added — is a choice the read service
makes (the ``HOLIDAYS_COUNTRY`` setting, else the Kommo account's country) and hands to the pure
layers as a :class:`WorkCalendar`, a plain value; counting days from it is computation, no I/O.

This module sits beside ``errors`` and ``settings`` rather than inside ``metrics/`` or
``forecast/`` because both of those count working days and may not import each other: the
report's ``working_days_left`` and the forecast's pacing are one number, from one function here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from kommo_analytics.errors import ConfigError

Source = Literal["setting", "account", "none"]
EXAMPLES = "BR, BR-SP, BR-RJ, MX, AR, CO, US-NY, PT"


@dataclass(frozen=True)
class WorkCalendar:
    """Which public holidays are not working days: ``country`` (ISO 3166-1 alpha-2, one the
    `holidays` package knows) and optionally one of its ``subdivision`` codes; no country means
    weekends only. ``source`` says where the choice came from; ``account_country`` keeps what the
    account said when it could not be used, so the reader can be told why."""

    country: str | None = None
    subdivision: str | None = None
    source: Source = "none"
    account_country: str | None = None

    @property
    def code(self) -> str | None:
        """``BR`` or ``BR-SP``; None for weekends only."""
        if self.country is None:
            return None
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    def holidays_of(self, year: int) -> frozenset[date]:
        if self.country is None:
            return frozenset()
        return _public_holidays(self.country, self.subdivision, year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays_of(day.year)

    def working_days(self, first: date, last: date) -> int:
        """Working days from ``first`` to ``last``, both counted (0 when ``last`` < ``first``)."""
        count, day = 0, first
        while day <= last:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count


WEEKENDS_ONLY = WorkCalendar()


def month_last_day(month: date) -> date:
    index = month.year * 12 + month.month  # the next month's index
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def working_days_left(month: date, today: date, calendar: WorkCalendar) -> int:
    """The working days of ``month`` still ahead on ``today``: from today — counted when it is a
    working day, since the day is not over — to the month's last day; the whole month when it
    has not started, none once it is past. The report, the pacing and every page use this."""
    first = max(date(month.year, month.month, 1), today)
    return calendar.working_days(first, month_last_day(month))


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays  # only when a calendar is used: every command loads settings, few count days

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    import holidays

    return {
        code: tuple(subs)
        for code, subs in holidays.list_supported_countries(include_aliases=False).items()
    }


def _alpha2(code: str) -> str | None:
    """The ISO alpha-2 code of a country the package knows by ``code`` (alpha-2 or alpha-3)."""
    supported = _supported()
    if code in supported:
        return code
    if len(code) == 3:
        import holidays

        try:
            entity = holidays.country_holidays(code)
        except NotImplementedError:
            return None
        alpha2 = str(getattr(entity, "country", ""))
        return alpha2 if alpha2 in supported else None
    return None


def parse_country(value: str) -> tuple[str, str | None]:
    """``BR``, ``br-sp``, ``BRA`` … as (country, subdivision), both upper-case; a
    :class:`ConfigError` naming valid examples when the package does not know them."""
    text = value.strip().upper().replace("_", "-")
    country, _, subdivision = text.partition("-")
    alpha2 = _alpha2(country)
    if alpha2 is None:
        raise ConfigError(
            f"HOLIDAYS_COUNTRY {value!r} is not a country whose holidays are known",
            hint=f"use an ISO 3166 code with an optional subdivision, e.g. {EXAMPLES}; "
            "leave it empty to use the Kommo account's country",
        )
    if not subdivision:
        return alpha2, None
    subdivisions = _supported()[alpha2]
    if subdivision not in subdivisions:
        listed = ", ".join(f"{alpha2}-{s}" for s in subdivisions[:30])
        more = "…" if len(subdivisions) > 30 else ""
        raise ConfigError(
            f"HOLIDAYS_COUNTRY {value!r}: {subdivision!r} is not a subdivision of {alpha2} "
            "whose holidays are known",
            hint=f"use one of {listed}{more}, or {alpha2} alone"
            if subdivisions
            else f"{alpha2} has no subdivisions with holidays of their own: use {alpha2}",
        )
    return alpha2, subdivision


def calendar_for(setting: str | None, account_country: str | None) -> WorkCalendar:
    """The calendar the reports use: ``setting`` (``HOLIDAYS_COUNTRY``, already validated) when
    given; else the account's country when the package knows it — Kommo may send it empty, in
    lower case, with spaces or as a code nobody knows; then weekends only, saying what it was."""
    if setting:
        country, subdivision = parse_country(setting)
        return WorkCalendar(country, subdivision, "setting")
    raw = (account_country or "").strip()
    if raw:
        try:
            country, subdivision = parse_country(raw)
        except ConfigError:
            return WorkCalendar(account_country=raw)
        return WorkCalendar(country, subdivision, "account")
    return WEEKENDS_ONLY
