"""Scoring stored snapshots of closed months against what was won in them."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from kommo_analytics.forecast import History, forecast
from kommo_analytics.forecast.accuracy import accuracy, method_of, snapshots
from kommo_analytics.forecast.result import Range, Snapshot
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from tests.forecast.builders import build

TZ = "America/Sao_Paulo"
NOW = pd.Timestamp("2026-11-25 12:00", tz=TZ)


def _t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


def history() -> History:
    """September: won 1,000 and won without a price (counts 0), a lost 500 (not revenue).
    October: won 3,000. November (not closed yet): won 9,999."""
    rows = [
        (1, WON_STATUS_ID, "2026-09-10", 1000.0),
        (2, WON_STATUS_ID, "2026-09-20", None),
        (3, LOST_STATUS_ID, "2026-09-12", 500.0),
        (4, WON_STATUS_ID, "2026-10-05", 3000.0),
        (5, WON_STATUS_ID, "2026-11-03", 9999.0),
    ]
    leads = pd.DataFrame(
        {
            "lead_id": [r[0] for r in rows],
            "pipeline_id": 1,
            "user_id": 1,
            "created_at": [_t("2026-08-01")] * len(rows),
            "closed_at": [_t(r[2]) for r in rows],
            "status_id": [r[1] for r in rows],
            "price": [r[3] for r in rows],
        }
    )
    stays = pd.DataFrame(
        {
            "lead_id": leads["lead_id"],
            "pipeline_id": 1,
            "status_id": leads["status_id"],
            "entered_at": leads["closed_at"],
            "left_at": pd.Series([pd.NaT] * len(rows), dtype=f"datetime64[ns, {TZ}]"),
        }
    )
    return History(leads, stays, TZ)


def snap(made_on: str, month: str, p10: float, p50: float, p90: float) -> Snapshot:
    day = date.fromisoformat(made_on)
    return Snapshot(
        made_on=day,
        as_of=datetime.combine(day, datetime.min.time()),
        month=date.fromisoformat(month),
        revenue=Range(p10, p50, p90, p50),
        won_deals=Range(1, 2, 3, 2),
        method="holt_damped",
        seed=0,
    )


STORED = [
    snap("2026-08-20", "2026-09-01", 0, 100, 200),  # superseded by the 31 August one
    snap("2026-08-31", "2026-09-01", 500, 900, 1500),  # before September: 1,000 inside
    snap("2026-09-15", "2026-09-01", 1200, 1500, 2000),  # mid-September: 1,000 below P10
    snap("2026-09-20", "2026-09-01", 900, 1000, 1100),  # after the 15th: not scored
    snap("2026-09-30", "2026-10-01", 1000, 2000, 2500),  # before October: 3,000 above P90
    snap("2026-10-31", "2026-11-01", 0, 1, 2),  # November has not closed
]


def test_each_closed_month_gets_its_two_snapshots_scored() -> None:
    record = accuracy(STORED, history(), now=NOW)
    october, september = record.months  # newest first; November is open
    assert october.month == date(2026, 10, 1) and october.actual == 3000
    assert october.before_month is not None and october.mid_month is None
    assert not october.before_month.inside
    assert october.before_month.error == -1000  # P50 2,000 − actual 3,000
    assert october.before_month.relative_error == pytest.approx(-1 / 3)
    assert september.actual == 1000  # the unpriced win counts 0, the lost deal nothing
    first, mid = september.before_month, september.mid_month
    assert first is not None and first.made_on == date(2026, 8, 31) and first.inside
    assert first.error == -100
    assert mid is not None and mid.made_on == date(2026, 9, 15) and not mid.inside
    assert mid.error == 500 and mid.relative_error == 0.5
    assert (record.inside_before_month, record.scored_before_month) == (1, 2)
    assert (record.inside_mid_month, record.scored_mid_month) == (0, 1)


def test_only_the_last_months_and_nothing_before_a_month_closes() -> None:
    record = accuracy(STORED, history(), now=NOW, months=1)
    assert [m.month for m in record.months] == [date(2026, 10, 1)]
    # On 30 September nothing has closed that has a snapshot.
    early = accuracy(STORED, history(), now=_t("2026-09-30 23:00"))
    assert early.months == () and early.scored_before_month == 0


def test_snapshots_of_a_forecast_and_of_no_forecast() -> None:
    leads, stays = build(start="2025-01-01", months=12, per_month=20)
    result = forecast(History(leads, stays, TZ), now=_t("2025-12-10"), draws=200, seed=3)
    rows = snapshots(result)
    assert [r.month for r in rows] == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert {r.made_on for r in rows} == {date(2025, 12, 10)}  # the account-local day
    assert result.company is not None and rows[0].revenue == result.company.months[0].revenue
    assert rows[0].method == method_of(result) and rows[0].seed == 3
    short = forecast(History(leads, stays, TZ), now=_t("2025-02-10"), draws=200)
    assert short.status == "insufficient_history" and snapshots(short) == ()
