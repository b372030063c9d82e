"""`kommo-analytics forecast` as a person uses it, on a warehouse synced from the emulated small
account (seed 3): the ranges, the goals' chances, the weighted pipeline, the backtest, and the
statement a short history gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()
AS_OF = ["--as-of", "2026-11-25T12:00"]
FAST = ["--draws", "200"]  # enough for the shape of the answer; the default is 2000

# The keys of `forecast --json` documented in docs/forecast.md.
TOP_KEYS = {"status", "reason", "now", "seed", "draws", "company", "pipelines", "sellers",
            "goals", "open_pipeline", "new_leads", "closed_months", "pacing",
            "recommendations", "calendar", "accuracy"}  # fmt: skip
MONTH_KEYS = {"month", "revenue", "won_deals", "won_to_date", "won_deals_to_date",
              "from_open_pipeline", "from_new_leads"}  # fmt: skip
RANGE_KEYS = {"p10", "p50", "p90", "mean"}
STAGE_KEYS = {"pipeline_id", "status_id", "closed_deals", "won_deals", "raw_rate",
              "pipeline_rate", "probability", "median_days_to_win", "open_deals",
              "unpriced_deals", "open_value", "weighted_value"}  # fmt: skip
GOAL_KEYS = {"month", "user_id", "goal", "p50", "gap", "probability", "risk"}


def forecast(*args: str) -> Any:
    result = runner.invoke(app, ["forecast", *AS_OF, *FAST, *args])
    assert result.exit_code == 0, result.output
    return result


def forecast_json(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(forecast("--json", *args).stdout)
    return data


def test_json_has_the_documented_keys_and_is_reproducible(warehouse: Path) -> None:
    data = forecast_json("--seed", "7")
    assert set(data) == TOP_KEYS
    assert data["status"] == "ok" and data["seed"] == 7 and data["draws"] == 200
    assert data["now"] == "2026-11-25T12:00:00-03:00"
    months = data["company"]["months"]
    assert [m["month"] for m in months] == ["2026-11-01", "2026-12-01", "2027-01-01"]
    for m in months:
        assert set(m) == MONTH_KEYS and set(m["revenue"]) == RANGE_KEYS
        assert m["revenue"]["p10"] <= m["revenue"]["p50"] <= m["revenue"]["p90"]
    # Revenue already won this month is part of its range.
    assert months[0]["won_to_date"] > 0 and months[0]["revenue"]["p10"] >= months[0]["won_to_date"]
    assert len(data["pipelines"]) > 1 and data["sellers"]
    assert set(data["open_pipeline"]["stages"][0]) == STAGE_KEYS
    assert data["new_leads"]["volume"]["method"] == "holt_winters_seasonal"
    assert forecast_json("--seed", "7") == data  # same warehouse, same seed: same numbers
    assert forecast_json("--seed", "8")["company"] != data["company"]


def test_filters_narrow_the_forecast(warehouse: Path) -> None:
    whole = forecast_json()
    pipeline = whole["pipelines"][0]["id"]
    one = forecast_json("--pipeline", str(pipeline))
    assert [p["id"] for p in one["pipelines"]] == [pipeline]
    assert {s["pipeline_id"] for s in one["open_pipeline"]["stages"]} == {pipeline}
    unknown = runner.invoke(app, ["forecast", *AS_OF, "--seller", "nobody at all"])
    assert unknown.exit_code == 2 and "is unknown" in unknown.output


def test_tables_show_ranges_goals_risk_and_the_weighted_pipeline(warehouse: Path) -> None:
    seller = forecast_json()["sellers"][0]["id"]
    goals = warehouse.parent / "goals.csv"
    goals.write_text(f"month,user,revenue_goal\n2026-11,{seller},1000000\n", encoding="utf-8")
    assert runner.invoke(app, ["goals", "import", str(goals)]).exit_code == 0
    data = forecast_json()
    company_goal = next(g for g in data["goals"] if g["user_id"] is None)
    assert set(company_goal) == GOAL_KEYS and company_goal["goal"] == 1_000_000
    assert company_goal["risk"] == "high" and company_goal["probability"] < 0.5
    out = _text_at_80_columns()
    assert "Company: revenue and won deals per month" in out
    assert "2026-11" in out and "2027-01" in out and "1,000,000" in out and "high" in out
    assert "Revenue per seller" in out and "Revenue per pipeline" in out
    assert "Open pipeline by stage" in out and "Negociação" in out
    assert "holt_winters_seasonal" in out
    # The goal's pacing and the recommendations its gap brings, with their numbers.
    pacing = next(p for p in data["pacing"] if p["user_id"] is None)
    # Wednesday 25 November counts (the day is not over): 25, 26, 27 and 30, no holiday in
    # Brazil, the emulated account's country.
    assert pacing["working_days_left"] == 4
    assert pacing["revenue_per_day"] == pytest.approx(pacing["remaining"] / 4)
    assert data["calendar"] == {
        "country": "BR", "subdivision": None, "source": "account", "account_country": None,
    }  # fmt: skip
    assert "Working-day calendar: Brazil (BR)." in out
    gap = next(r for r in data["recommendations"] if r["key"] == "close_gap")
    assert gap["numbers"]["gap"] == pytest.approx(company_goal["gap"])
    assert "Pacing: what the goal asks" in out and "Recommendations" in out
    assert "short of the goal at P50" in out and "The largest drop is" in out
    # The warehouse was synced without snapshots: the record says so in one line.
    assert data["accuracy"]["months"] == []
    assert "Accuracy record: no closed month has a stored forecast yet" in out


def test_holidays_country_changes_the_pacing_and_the_report_alike(warehouse: Path) -> None:
    """HOLIDAYS_COUNTRY=US: Thanksgiving (Thursday 26 November 2026) is off, so from Wednesday
    25 the working days are 25, 27 and 30: 3, in the pacing and in the report alike."""
    seller = forecast_json()["sellers"][0]["id"]
    goals = warehouse.parent / "goals.csv"
    goals.write_text(f"month,user,revenue_goal\n2026-11,{seller},1000000\n", encoding="utf-8")
    assert runner.invoke(app, ["goals", "import", str(goals)]).exit_code == 0
    env = {"HOLIDAYS_COUNTRY": "US"}
    result = runner.invoke(app, ["forecast", *AS_OF, *FAST, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["calendar"]["country"], data["calendar"]["source"]) == ("US", "setting")
    pacing = next(p for p in data["pacing"] if p["user_id"] is None)
    report = runner.invoke(app, ["metrics", *AS_OF, "--json"], env=env)
    assert report.exit_code == 0, report.output
    section = json.loads(report.stdout)["forecast"]
    assert pacing["working_days_left"] == section["working_days_left"] == 3
    assert section["holiday_calendar"] == "US"


def test_a_wrong_holidays_country_is_one_line_with_examples(warehouse: Path) -> None:
    result = runner.invoke(app, ["forecast", *AS_OF, *FAST], env={"HOLIDAYS_COUNTRY": "Brasil"})
    assert result.exit_code != 0
    assert "HOLIDAYS_COUNTRY" in result.output and "BR-SP" in result.output


def _text_at_80_columns() -> str:
    result = runner.invoke(app, ["forecast", *AS_OF, *FAST], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_backtest_prints_the_errors_of_the_model_and_the_baselines(warehouse: Path) -> None:
    out = forecast("--backtest", "--draws", "100").stdout
    for text in ("WAPE of the P50", "MAPE of the P50", "Last month", "Run-rate", "Coverage",
                 "the 1st", "the 15th", "this month", "month after"):  # fmt: skip
        assert text in out, text
    assert "the best baseline" in out and "the 70%–90% target" in out
    # Twelve months × two origins × up to three horizons; the last two months' later horizons
    # have not happened yet.
    assert "66 forecasts scored" in out


def test_a_short_history_gets_a_statement_and_exit_0(warehouse: Path) -> None:
    early = ["--as-of", "2024-09-10T12:00"]
    result = runner.invoke(app, ["forecast", *early])
    assert result.exit_code == 0, result.output
    assert "No forecast yet" in result.stdout and "at least 3" in result.stdout
    data = json.loads(runner.invoke(app, ["forecast", *early, "--json"]).stdout)
    assert data["status"] == "insufficient_history" and data["company"] is None
    backtest = runner.invoke(app, ["forecast", *early, "--backtest"])
    assert backtest.exit_code == 0 and "No backtest yet" in backtest.stdout
