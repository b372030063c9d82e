from __future__ import annotations

import pandas as pd
import pytest

from kommo_analytics.forecast import History, backtest, forecast
from kommo_analytics.forecast.backtest import _score
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from tests.forecast.builders import TZ, at, build, history


def _rewrite_after(h: History, t: pd.Timestamp) -> History:
    """The same past with another future: every lead closing after ``t`` gets the opposite
    outcome, leads created after ``t`` are replaced by 100 others."""
    leads, stays = h.leads.copy(), h.stays.copy()
    flip = {WON_STATUS_ID: LOST_STATUS_ID, LOST_STATUS_ID: WON_STATUS_ID}
    late = leads["closed_at"] > t
    leads.loc[late, "status_id"] = leads.loc[late, "status_id"].map(flip)
    final = stays["entered_at"] > t
    closing = stays["status_id"].isin(flip)
    stays.loc[final & closing, "status_id"] = stays.loc[final & closing, "status_id"].map(flip)
    kept = leads["created_at"] <= t
    stays = stays[stays["lead_id"].isin(leads.loc[kept, "lead_id"])]
    new_leads, new_stays = build(start="2026-02-20", months=1, per_month=100, first_id=100_000)
    return History(pd.concat([leads[kept], new_leads]), pd.concat([stays, new_stays]), TZ)


def test_the_forecast_at_an_origin_does_not_see_the_future() -> None:
    origin = at("2026-02-15")
    real = history(months=14)
    other = _rewrite_after(real, origin)
    assert forecast(real, now=origin, draws=200) == forecast(other, now=origin, draws=200)
    # The rewrite does matter once it is in the past.
    later = at("2026-02-27")
    assert forecast(real, now=later, draws=200) != forecast(other, now=later, draws=200)


def test_the_backtest_does_not_see_the_future() -> None:
    # Backtest of February 2026 from 1 March: origins 1 and 15 February. Everything after the
    # second origin is rewritten; the forecasts and baselines must not move, only the actual.
    real = history(months=14)
    other = _rewrite_after(real, at("2026-02-15"))
    a = backtest(real, now=at("2026-03-01"), months=1, draws=200)
    b = backtest(other, now=at("2026-03-01"), months=1, draws=200)
    assert a.status == b.status == "ok"
    # Horizon 0 only: March and April have not closed by 1 March.
    assert [(p.origin_kind, p.horizon) for p in a.points] == [("month_start", 0), ("mid_month", 0)]
    for p, q in zip(a.points, b.points, strict=True):
        assert (p.p10, p.p50, p.p90) == (q.p10, q.p50, q.p90)
        assert (p.last_month, p.same_month_last_year, p.run_rate) == (
            q.last_month,
            q.same_month_last_year,
            q.run_rate,
        )
        assert p.actual != q.actual


def _monthly(h: History) -> pd.Series:
    won = h.leads[h.leads["status_id"] == WON_STATUS_ID]
    return won.groupby(won["closed_at"].dt.strftime("%Y-%m"))["price"].sum()


def test_the_baselines() -> None:
    h = history(months=14)
    result = backtest(h, now=at("2026-03-01"), months=1, draws=200)
    revenue = _monthly(h)
    start, mid = result.points
    assert start.month.isoformat() == "2026-02-01"
    assert start.actual == revenue["2026-02"]
    # Last month: January's revenue; same month last year: February 2025's.
    assert start.last_month == revenue["2026-01"]
    assert start.same_month_last_year == revenue["2025-02"]
    # At a month's start no day has elapsed: no run-rate. On the 15th, 14 days of February
    # have passed: the revenue won by then × 28 / 14.
    assert start.run_rate is None
    won = h.leads[(h.leads["status_id"] == WON_STATUS_ID)]
    so_far = won[(won["closed_at"] >= at("2026-02-01")) & (won["closed_at"] < at("2026-02-15"))]
    assert mid.run_rate == pytest.approx(so_far["price"].sum() * 28 / 14)
    methods = {(s.origin_kind, s.method) for s in result.scores}
    assert ("mid_month", "run_rate") in methods
    model = next(s for s in result.scores if s.method == "model" and s.origin_kind == "mid_month")
    assert model.coverage in (0.0, 1.0)  # one point: inside the range or not
    assert any("coverage" in note for note in result.notes)


def test_wape_and_mape() -> None:
    # Actuals 100 and 200, forecasts 90 and 260: WAPE = (10 + 60) / 300, MAPE = (10 % + 30 %) / 2.
    wape, mape = _score([(100.0, 90.0), (200.0, 260.0)])
    assert wape == pytest.approx(70 / 300)
    assert mape == pytest.approx(0.2)
    assert _score([]) == (None, None)


def test_a_backtest_without_enough_history() -> None:
    # Leads since January 2025: no origin in January–March 2025 has three closed months.
    result = backtest(history(months=3), now=at("2025-04-01"), months=3, draws=100)
    assert result.status == "insufficient_history"
    assert "3 closed months" in result.reason
    assert result.points == ()
