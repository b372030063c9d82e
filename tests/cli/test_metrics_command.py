"""`kommo-analytics metrics`, `model`, `channels`, `costs import` and `goals import` as a person
uses them, on a warehouse synced from the emulated small account."""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kommo_analytics.cli.main import app
from kommo_analytics.cli.metrics_cmd import print_report
from kommo_analytics.metrics.results import Report
from kommo_analytics.service import account, reports
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import load_settings

runner = CliRunner()
PERIOD = ["--from", "2026-10-01", "--to", "2026-10-31", "--as-of", "2026-11-25T12:00"]

# The keys the contract fixes for `metrics --json` (each is documented in docs/metrics.md).
CONTRACT_KEYS: dict[str, Any] = {
    "period": ["from", "to", "timezone"],
    "currency": None,
    "leads": {
        "total": None,
        "by_channel": ["paid", "referral", "organic", "outbound", "other", "unknown"],
        "response_time": ["avg_hours", "median_hours", "within_sla_pct", "without_response"],
        "cost": ["total", "per_lead", "by_channel"],
    },
    "funnel[]": ["pipeline_id", "name", "stages"],
    "funnel[].stages[]": ["status_id", "name", "reached", "conversion_to_next_pct",
                          "avg_hours_in_stage", "median_hours_in_stage", "abandonment_pct"],
    "activities": ["tasks_total", "tasks_completed", "completion_rate_pct", "on_time_rate_pct",
                   "overdue", "meetings_scheduled", "meetings_held", "calls_outgoing",
                   "calls_incoming", "call_minutes", "messages_outgoing", "messages_incoming"],
    "sales": ["won", "lost", "win_rate_pct", "revenue", "avg_ticket", "sales_cycle_avg_days",
              "sales_cycle_median_days", "loss_reasons"],
    "sales.loss_reasons[]": ["reason", "count", "share_pct", "value"],
    "sellers[]": ["user_id", "name", "leads", "won", "lost", "win_rate_pct", "revenue",
                  "avg_ticket", "response_time_avg_hours", "tasks_completed", "calls", "goal",
                  "attainment_pct"],
    "channels[]": ["channel", "leads", "won", "revenue", "cost", "cpl", "roi_pct"],
    "forecast": None,
}  # fmt: skip


def metrics_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["metrics", *PERIOD, "--json", *args])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_metrics_json_has_every_contract_key_with_plausible_values(warehouse: Path) -> None:
    data = metrics_json()
    assert set(data["period"]) >= {"from", "to", "timezone"}
    assert data["period"] == {"from": "2026-10-01", "to": "2026-10-31",
                              "timezone": "America/Sao_Paulo"}  # fmt: skip
    assert data["currency"] == "BRL"
    leads = data["leads"]
    for key, sub in CONTRACT_KEYS["leads"].items():
        assert key in leads
        if sub:
            assert set(sub) <= set(leads[key]), key
    for path in ("activities", "sales"):
        assert set(CONTRACT_KEYS[path]) <= set(data[path]), path
    for path, owner in (("funnel[]", data["funnel"]), ("sellers[]", data["sellers"]),
                        ("channels[]", data["channels"])):  # fmt: skip
        assert owner, path
        for row in owner:
            assert set(CONTRACT_KEYS[path]) <= set(row), path
    for pipeline in data["funnel"]:
        for stage in pipeline["stages"]:
            assert set(CONTRACT_KEYS["funnel[].stages[]"]) <= set(stage)
    for reason in data["sales"]["loss_reasons"]:
        assert set(CONTRACT_KEYS["sales.loss_reasons[]"]) <= set(reason)
    assert "forecast" in data

    # Plausible: the channel split adds up, rates are rates, no costs means unknown, not 0.
    assert leads["total"] > 0
    assert sum(leads["by_channel"].values()) == leads["total"]
    sales = data["sales"]
    assert 0 <= sales["win_rate_pct"] <= 100
    assert sales["won"] > 0 and sales["revenue"] > 0
    assert sales["avg_ticket"] == pytest.approx(sales["revenue"] / sales["won"])
    assert sum(r["count"] for r in sales["loss_reasons"]) == sales["lost"]
    assert leads["cost"]["total"] is None and leads["cost"]["per_lead"] is None
    assert all(s["goal"] is None and s["attainment_pct"] is None for s in data["sellers"])
    forecast = data["forecast"]
    assert forecast["status"] == "ok" and forecast["seed"] == 0
    assert [m["month"] for m in forecast["months"]] == ["2026-11", "2026-12", "2027-01"]
    for month in forecast["months"]:
        assert month["revenue_p10"] <= month["revenue_p50"] <= month["revenue_p90"]
        assert month["won_deals_p10"] <= month["won_deals_p50"] <= month["won_deals_p90"]
    # The current month's range includes what is won so far, the same figure as the facts'.
    current = forecast["months"][0]
    assert current["revenue_to_date"] == forecast["month_revenue_to_date"]
    assert current["revenue_p10"] >= current["revenue_to_date"]
    assert sum(r["leads"] for r in data["channels"]) == leads["total"]
    activities = data["activities"]
    assert activities["tasks_completed"] <= activities["tasks_total"]
    assert activities["meetings_held"] <= activities["meetings_scheduled"]


class _FrozenClock(datetime):
    """`datetime` whose now() is one fixed moment: the command and the test must see the same
    "now", or a report read across a minute's turn differs (the test failed so under load)."""

    MOMENT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> _FrozenClock:
        return cls.fromtimestamp(cls.MOMENT.timestamp(), tz)


def test_the_service_report_is_what_metrics_json_prints(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kommo_analytics.cli.metrics_cmd.datetime", _FrozenClock)
    settings = load_settings()
    target = account.target_for(settings)
    acc = account.load_modelled(target, timezone_override=settings.account_timezone)
    scope = Scope(start=date(2026, 10, 1), end=date(2026, 10, 31),
                  as_of=datetime(2026, 11, 25, 12, 0))  # PERIOD  # fmt: skip
    params = reports.params(acc, scope, now=_FrozenClock.now(UTC),
                            sla_hours=settings.response_sla_hours)  # fmt: skip
    report = reports.report(target, acc, params)
    assert isinstance(report, Report)
    printed = runner.invoke(app, ["metrics", *PERIOD, "--json"]).stdout
    assert report.to_json_dict() == json.loads(printed)
    assert list(report.to_json_dict()) == list(json.loads(printed))  # the same key order


def test_metrics_tables_for_people(warehouse: Path) -> None:
    result = runner.invoke(app, ["metrics", *PERIOD])
    assert result.exit_code == 0, result.output
    for title in ("1 · Leads and origin", "2 · Funnel", "3 · Activities", "4 · Sales",
                  "5 · Sellers", "5 · Channels", "6 · Forecast"):  # fmt: skip
        assert title in result.stdout
    assert "no costs imported" in result.stdout
    assert "Forecast for 2026-11: P50" in result.stdout and "P10–P90" in result.stdout


def _rendered(data: dict[str, Any], width: int) -> str:
    """The tables for a `metrics --json` document (edited by the test, hence read back)."""
    out = io.StringIO()
    print_report(Report.from_dict(data), Console(file=out, width=width, color_system=None))
    return out.getvalue()


def _stressed(data: dict[str, Any]) -> dict[str, Any]:
    """The report with a long seller name, a long channel and big numbers everywhere."""
    data = copy.deepcopy(data)
    seller = data["sellers"][0]
    seller.update(name="Maria Aparecida dos Santos Oliveira", revenue=12_345_678.9,
                  goal=15_000_000.0, attainment_pct=82.3, leads=12_345)  # fmt: skip
    data["channels"][0].update(revenue=98_765_432.1, cost=1_234_567.89, cpl=1_234.56)
    data["sales"]["revenue"] = 123_456_789.12
    return data


@pytest.mark.parametrize("width", [80, 120])
def test_metrics_tables_fit_the_terminal_without_truncating_a_cell(
    warehouse: Path, width: int
) -> None:
    data = metrics_json()
    for report in (data, _stressed(data)):
        text = _rendered(report, width)
        assert "…" not in text, text
        too_wide = [line for line in text.splitlines() if len(line) > width]
        assert not too_wide, "\n".join(too_wide)
        for seller in report["sellers"]:
            assert seller["name"] in text  # whole, on one line
    text = _rendered(_stressed(data), width)
    assert "Maria Aparecida dos Santos Oliveira" in text
    assert "12,345,679" in text


def test_metrics_tables_speak_in_words_with_units(warehouse: Path) -> None:
    text = _rendered(metrics_json(), 80)
    for label in ("Completion rate", "On time", "First response (median)", "Win rate",
                  "Attainment", "Call minutes"):  # fmt: skip
        assert label in text, label
    body = text.split("\n", 1)[1]  # below the period line, which names the IANA time zone
    assert "completion rate pct" not in body and not re.search(r"[a-z]_[a-z]", body)
    assert re.search(r"\d %", text)  # rates carry their unit
    assert re.search(r"\d h\b", text)  # hours carry theirs
    assert "--json" in text  # where the rest is


def test_filters_by_name(warehouse: Path) -> None:
    everything = metrics_json()
    seller = everything["sellers"][0]
    pipeline = everything["funnel"][0]
    narrowed = metrics_json("--seller", seller["name"], "--pipeline", pipeline["name"],
                            "--channel", "paid")  # fmt: skip
    assert narrowed["filters"] == {"pipelines": [pipeline["pipeline_id"]],
                                   "sellers": [seller["user_id"]], "channels": ["paid"]}  # fmt: skip
    assert narrowed["leads"]["total"] < everything["leads"]["total"]
    assert set(narrowed["leads"]["by_channel"]) >= {"paid"}
    assert sum(narrowed["leads"]["by_channel"].values()) == narrowed["leads"]["by_channel"]["paid"]
    # The forecast of the seller's part of the pipeline alone (the channel filter does not apply).
    whole_p50 = everything["forecast"]["months"][0]["revenue_p50"]
    assert narrowed["forecast"]["months"][0]["revenue_p50"] < whole_p50


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--from", "2026-13-01"], 2, "is not a date"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], 2, "ends (2026-11-01) before it starts"),
        (["--channel", "tv"], 2, "unknown channel tv"),
        (["--seller", "Nobody Here"], 2, "seller 'Nobody Here' is unknown"),
        (["--as-of", "yesterday"], 2, "is not a date and time"),
    ],
)
def test_bad_options_say_what_to_write(
    warehouse: Path, args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(app, ["metrics", *args])
    assert result.exit_code == code
    assert message in result.stderr


def test_metrics_before_any_sync_says_to_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 1
    assert "kommo-analytics sync" in result.stderr


def test_a_costs_file_with_a_bad_line_is_refused_whole(warehouse: Path, tmp_path: Path) -> None:
    good = tmp_path / "costs.csv"
    good.write_text("date;channel;amount\n2026-10-01;paid;2.000,00\n2026-10-15;organic;500\n")
    result = runner.invoke(app, ["costs", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 costs rows" in result.stdout
    before = metrics_json()["channels"]

    bad = tmp_path / "bad.csv"
    bad.write_text("date,channel,amount\n2026-10-02,paid,10\n2026-10-03,paid,-5\n")
    result = runner.invoke(app, ["costs", "import", str(bad), "--replace"])
    assert result.exit_code == 1
    # Line 3 (the header is line 1) has a negative amount: listed with its line and column.
    assert "line 3, column amount" in result.stderr
    assert "nothing was imported" in result.stderr
    assert metrics_json()["channels"] == before
    paid = next(c for c in before if c["channel"] == "paid")
    assert paid["cost"] == 2000.0
    assert paid["cpl"] == pytest.approx(2000.0 / paid["leads"])
    assert paid["roi_pct"] == pytest.approx(100 * (paid["revenue"] - 2000.0) / 2000.0)


def test_goals_give_sellers_a_target(warehouse: Path, tmp_path: Path) -> None:
    seller = metrics_json()["sellers"][0]
    goals = tmp_path / "goals.csv"
    goals.write_text(f'month,user,revenue_goal\n2026-10,{seller["name"]},"10.000,00"\n')
    result = runner.invoke(app, ["goals", "import", str(goals)])
    assert result.exit_code == 0, result.output
    row = next(s for s in metrics_json()["sellers"] if s["user_id"] == seller["user_id"])
    # The whole of October is in the period: the goal counts in full.
    assert row["goal"] == pytest.approx(10_000.0)
    assert row["attainment_pct"] == pytest.approx(100 * row["revenue"] / 10_000.0)


def test_channels_lists_the_rules_and_their_leads(warehouse: Path) -> None:
    result = runner.invoke(app, ["channels"])
    assert result.exit_code == 0, result.output
    for key in ("paid", "referral", "organic", "outbound", "other", "unknown"):
        assert key in result.stdout


def test_model_rebuilds_on_demand(warehouse: Path) -> None:
    result = runner.invoke(app, ["model"])
    assert result.exit_code == 0, result.output
    assert "analytics model built" in result.stdout


@pytest.mark.parametrize("command", [["metrics"], ["model"]])
def test_a_bad_channel_rules_file_is_named_by_metrics_and_model(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    rules = warehouse.parent / "channels.toml"
    rules.write_text('[channel]\nkey = "paid"\n')
    monkeypatch.setenv("CHANNEL_RULES_FILE", str(rules))
    result = runner.invoke(app, command, env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.stdout + result.stderr
    assert str(rules) in result.stderr and 'write "[[channel]]"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
