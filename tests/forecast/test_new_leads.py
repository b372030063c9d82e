from __future__ import annotations

import numpy as np
import pytest

from kommo_analytics.forecast.new_leads import delay_shares, forecast_series, new_leads_model
from tests.forecast.builders import at, history


def _seasonal(months: int) -> np.ndarray:
    # A pure yearly pattern: 100 leads ± 30, peaking in the fourth month of each year.
    return 100 + 30 * np.sin(2 * np.pi * np.arange(months) / 12)


def test_a_pure_seasonal_series_is_recovered() -> None:
    # 36 months (≥ 24): Holt-Winters with yearly seasonality. The series has no noise, so the
    # next 12 months must repeat the pattern; 3 leads (a tenth of the amplitude) is the slack
    # for the damped trend and the estimated initial state.
    result = forecast_series(_seasonal(36), 12, "volume")
    assert result.method == "holt_winters_seasonal"
    assert np.allclose(result.mean, _seasonal(48)[36:], atol=3.0)


def test_a_trend_without_two_years_uses_damped_holt_and_says_why() -> None:
    result = forecast_series(50 + 2.0 * np.arange(18), 3, "volume")
    assert result.method == "holt_damped"
    assert "seasonality needs at least 24" in result.reason
    # A damped trend keeps climbing, but less than the straight line (86, 88, 90).
    assert 84 < result.mean[0] < result.mean[2] <= 90.5


def test_a_short_series_falls_back_to_the_recent_mean_and_says_so() -> None:
    result = forecast_series(np.array([10.0, 12, 14, 16, 18]), 3, "volume")
    assert result.method == "recent_mean"
    assert "only 5 months of history" in result.reason
    # The mean of the (up to six) last months, with a spread growing like √h.
    assert result.mean == (14.0, 14.0, 14.0)
    assert result.sd[0] < result.sd[1] < result.sd[2]
    assert result.sd[2] == pytest.approx(result.sd[0] * np.sqrt(3))


def test_the_delay_from_creation_to_win() -> None:
    # Every win comes 15 days after creation and leads arrive evenly: a lead is won in its own
    # month when created in the first (days in month − 15) days, so about half (31 − 15 = 16
    # of 31 days in most months, 13 of 28 in February) are won the same month and the rest the
    # next. 72 wins or so, so ±0.1 is about 2 standard errors of a share.
    shares = delay_shares(history(months=12).as_of(at("2026-01-16")), at("2026-01-16"))
    assert shares.sum() == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.5, abs=0.1)
    assert shares[0] + shares[1] == pytest.approx(1.0)


def test_the_new_lead_model_on_a_constant_history() -> None:
    # 40 leads a month, 15 % of them won at 1,000: 40 leads and 0.15 wins per lead expected.
    # With 12 closed months volume gets the damped trend; a constant series stays at 40.
    now = at("2026-01-16")
    model = new_leads_model(history(months=13).as_of(now), now, 3)
    assert model.summary.volume.method == "holt_damped"
    assert np.allclose(model.volume_mean, 40.0, atol=1.0)
    # Wins per lead is a noisy proportion of about 40 leads a month (sd ≈ 0.056 a month, the
    # mean of six months ≈ 0.023): within 0.06 of 0.15.
    assert np.allclose(model.wins_mean, 0.15, atol=0.06)
    assert np.allclose(model.ticket, 1000.0)
    # Half the month is left on the 16th (16 of 31 days).
    assert model.remaining_share == pytest.approx(16 / 31)


def test_a_short_history_says_which_fallback_it_used() -> None:
    now = at("2025-07-10")
    model = new_leads_model(history(months=7).as_of(now), now, 3)
    assert model.summary.volume.method == "recent_mean"
    assert "only 6 months of history" in model.summary.volume.reason
