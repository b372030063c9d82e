"""Months in the account's time zone: where they start, how far a moment is into one."""

from __future__ import annotations

from datetime import date, timedelta, tzinfo

import pandas as pd

DAY = pd.Timedelta(days=1)


def month_start(t: pd.Timestamp, shift: int = 0) -> pd.Timestamp:
    """Midnight on the first day of ``t``'s month (``shift`` months later), in ``t``'s zone."""
    return start_of_index(index_of(t) + shift, t.tzinfo)


def month_index(times: pd.Series) -> pd.Series:
    """Months since year 0 (year × 12 + month − 1) of tz-aware timestamps in their own zone: an
    integer key that makes "months between" a subtraction."""
    index: pd.Series = (times.dt.year * 12 + times.dt.month - 1).astype("Int64")
    return index


def index_of(t: pd.Timestamp) -> int:
    return int(t.year * 12 + t.month - 1)


def start_of_index(index: int, tz: tzinfo | None) -> pd.Timestamp:
    naive = pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)
    return naive.tz_localize(tz) if tz is not None else naive


def in_days(deltas: pd.Series) -> pd.Series:
    """Durations as fractional days."""
    out: pd.Series = deltas.dt.total_seconds() / 86400.0
    return out


def by_int_key(series: pd.Series) -> dict[int, float]:
    """A series keyed by ids as a plain dict (ids as int, values as float)."""
    keys, values = series.index.to_numpy(), series.to_numpy(dtype=float)
    return {int(k): float(v) for k, v in zip(keys, values, strict=True)}


# -- working days ----------------------------------------------------------------------------------
# Brazil's national holidays written out here rather than taken from the `holidays` package: that
# package pins python-dateutil below 3 and would downgrade the 4.x this project runs on. State and
# city holidays, Carnival and Corpus Christi (optional days, "ponto facultativo") are not
# national holidays and count as working days.
_FIXED_BR = (
    (1, 1),  # Confraternização Universal
    (4, 21),  # Tiradentes
    (5, 1),  # Dia do Trabalhador
    (9, 7),  # Independência
    (10, 12),  # Nossa Senhora Aparecida
    (11, 2),  # Finados
    (11, 15),  # Proclamação da República
    (12, 25),  # Natal
)
BLACK_CONSCIOUSNESS_FROM = 2024  # 20 November became a national holiday by Lei 14.759/2023


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm, "Meeus/Jones/Butcher")."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def brazil_holidays(year: int) -> frozenset[date]:
    """Brazil's national holidays of ``year``: the fixed ones and Good Friday (Easter − 2)."""
    days = {date(year, m, d) for m, d in _FIXED_BR}
    if year >= BLACK_CONSCIOUSNESS_FROM:
        days.add(date(year, 11, 20))
    days.add(easter(year) - timedelta(days=2))
    return frozenset(days)


def working_days(start: date, end: date) -> int:
    """Monday-to-Friday days in [start, end) that are not Brazilian national holidays."""
    count, day = 0, start
    years: dict[int, frozenset[date]] = {}
    while day < end:
        if day.weekday() < 5:
            off = years.setdefault(day.year, brazil_holidays(day.year))
            count += day not in off
        day += timedelta(days=1)
    return count
