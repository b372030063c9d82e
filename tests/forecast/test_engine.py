from __future__ import annotations

import json

from kommo_analytics.forecast import forecast
from tests.forecast.builders import at, history


def test_under_three_closed_months_says_what_is_missing() -> None:
    # Leads since 1 November 2025; on 10 January two months (November, December) have closed.
    result = forecast(history(start="2025-11-01", months=3), now=at("2026-01-10"))
    assert result.status == "insufficient_history"
    assert result.closed_months == 2
    assert "2025-11-01" in result.reason
    assert "at least 3" in result.reason
    assert result.company is None
    assert json.loads(json.dumps(result.to_dict()))["status"] == "insufficient_history"


def test_no_lead_at_all() -> None:
    result = forecast(history(months=3), now=at("2024-06-01"))
    assert result.status == "insufficient_history"
    assert "no lead yet" in result.reason


def test_a_forecast_is_json_ready_and_names_its_methods() -> None:
    # Six closed months: enough for a forecast, too few for a trend: the fallback is named.
    result = forecast(history(months=7), now=at("2025-07-10"), draws=200)
    assert result.status == "ok"
    assert "recent_mean" in result.reason
    data = json.loads(json.dumps(result.to_dict()))
    assert data["company"]["months"][0]["month"] == "2025-07-01"
    assert data["new_leads"]["volume"]["method"] == "recent_mean"
    stage = data["open_pipeline"]["stages"][0]
    assert {"closed_deals", "probability", "raw_rate", "pipeline_rate"} <= stage.keys()
