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
