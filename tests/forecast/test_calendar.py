"""Months in the account's zone. (Working days are ``workdays.py``'s: tests/test_workdays.py.)"""

from __future__ import annotations

import pandas as pd

from kommo_analytics.forecast.calendar import index_of, month_start, start_of_index

TZ = "America/Sao_Paulo"


def test_month_start_is_local_midnight_and_shifts_across_years() -> None:
    t = pd.Timestamp("2026-12-31 23:30", tz=TZ)
    assert month_start(t) == pd.Timestamp("2026-12-01", tz=TZ)
    assert month_start(t, 1) == pd.Timestamp("2027-01-01", tz=TZ)
    assert month_start(t, -12) == pd.Timestamp("2025-12-01", tz=TZ)


def test_month_index_round_trips() -> None:
    t = pd.Timestamp("2026-03-15 10:00", tz=TZ)
    assert index_of(t) == 2026 * 12 + 2
    assert start_of_index(index_of(t), t.tzinfo) == pd.Timestamp("2026-03-01", tz=TZ)
