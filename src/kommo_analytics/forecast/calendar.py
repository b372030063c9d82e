"""Months in the account's time zone: where they start, how far a moment is into one."""

from __future__ import annotations

from datetime import tzinfo

import pandas as pd

DAY = pd.Timedelta(days=1)


def month_start(t: pd.Timestamp, shift: int = 0) -> pd.Timestamp:
    """Midnight on the first day of ``t``'s month (``shift`` months later), in ``t``'s zone."""
    return start_of_index(index_of(t) + shift, t.tzinfo)


def month_index(times: pd.Series) -> pd.Series:
    """Months since year 0 (year × 12 + month − 1) of tz-aware timestamps in their own zone: an
    integer key that makes "months between" a subtraction."""
    return (times.dt.year * 12 + times.dt.month - 1).astype("Int64")


def index_of(t: pd.Timestamp) -> int:
    return int(t.year * 12 + t.month - 1)


def start_of_index(index: int, tz: tzinfo | None) -> pd.Timestamp:
    naive = pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)
    return naive.tz_localize(tz) if tz is not None else naive


def days(delta: pd.Timedelta) -> float:
    return float(delta / DAY)
