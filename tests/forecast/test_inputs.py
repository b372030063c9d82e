from __future__ import annotations

import pandas as pd
import pytest

from kommo_analytics.forecast import ForecastInputError, History
from kommo_analytics.kommo.entities import WON_STATUS_ID
from tests.forecast.builders import TZ, at, build


def test_a_missing_column_is_named() -> None:
    leads, stays = build(months=1, per_month=2)
    with pytest.raises(ForecastInputError, match="no column price"):
        History(leads.drop(columns="price"), stays, TZ)
    with pytest.raises(ForecastInputError, match="stays table has no column left_at"):
        History(leads, stays.drop(columns="left_at"), TZ)


def test_naive_timestamps_are_refused() -> None:
    leads, stays = build(months=1, per_month=2)
    leads["created_at"] = leads["created_at"].dt.tz_localize(None)
    with pytest.raises(ForecastInputError, match="time-zone-aware"):
        History(leads, stays, TZ)


def test_as_of_rebuilds_the_state_from_the_stays() -> None:
    # Every lead walks 10 → 20 → 30 five days each; with p_next = 1 all are won on day 15.
    history = History(*build(months=1, per_month=1, p_next=(1, 1, 1)), TZ)
    lead = history.leads.iloc[0]
    assert lead["status_id"] == WON_STATUS_ID
    # Seven days in: the lead is in stage 20 (entered on day 5), still open.
    seen = history.as_of(lead["created_at"] + pd.Timedelta(days=7))
    row = seen.leads.iloc[0]
    assert row["status_id"] == 20
    assert pd.isna(row["closed_at"])
    assert len(seen.stays) == 2
    assert pd.isna(seen.stays.iloc[-1]["left_at"])
    # Before it was created it does not exist.
    assert history.as_of(at("2024-12-31")).leads.empty
    # After the win everything is known, closing time included.
    later = history.as_of(at("2025-03-01")).leads.iloc[0]
    assert later["status_id"] == WON_STATUS_ID
    assert later["closed_at"] == lead["closed_at"]
