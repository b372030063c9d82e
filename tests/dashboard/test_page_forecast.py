"""The "6 Forecast" page and the Overview's month card, in Streamlit's AppTest on the synced small
account (seed 3): the ranges are those of `kommo-analytics forecast --json` for the same "as of"
and seed, an imported goal gets its chance and risk, a short history gets the statement of what
is missing, and a history under a year says that the new-leads model fell back to a mean."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app as cli
from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import filters, metrics_data
from kommo_analytics.dashboard.app_pages import forecast as page
from kommo_analytics.model import store as model_store
from kommo_analytics.service import account, forecasts
from kommo_analytics.service.forecasts import Forecast, Recommendation
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import MakeApp
from tests.dashboard.test_page_performance_forecast_definitions import (  # noqa: F401 (fixture)
    AS_OF,
    FORECAST,
    OCTOBER,
    SAMUEL,
    goals_url,
    no_exception,
)

OVERVIEW = "app_pages/overview.py"
OCT_1, OCT_31 = date(2026, 10, 1), date(2026, 10, 31)
# The emulated account's first leads were created in September 2024.
SHORT = datetime(2024, 11, 20, 15, 0, tzinfo=UTC)  # two months in: no forecast
UNDER_A_YEAR = datetime(2025, 6, 20, 15, 0, tzinfo=UTC)  # months enough, but no trend yet


def result_for(url: str, now: datetime = AS_OF, **filters: Any) -> Forecast:
    """The forecast the page loads: the service's, for the dashboard's "as of" and seed."""
    target = parse_database_url(url)
    acc = account.load_modelled(target)
    scope = Scope(as_of=now, sellers=filters.get("sellers", ()))
    return forecasts.forecast(target, acc, scope, now=now, seed=0)


def table(app: AppTest, column: str) -> Any:
    """The first table of the page with that column."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


def at(make: MakeApp, url: str, now: datetime, path: str, monkeypatch: pytest.MonkeyPatch,
       **params: str) -> AppTest:  # fmt: skip
    app = make(url, path, **params)
    monkeypatch.setattr(filters, "now_utc", lambda: now)
    return app.run()


def test_the_ranges_are_those_of_the_forecast_command(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    run = CliRunner().invoke(
        cli, ["forecast", "--json", "--as-of", AS_OF.isoformat(), "--db", synced_url]
    )
    assert run.exit_code == 0, run.output
    expected = json.loads(run.stdout)
    assert expected["seed"] == 0 and expected["status"] == "ok"
    months = expected["company"]["months"]
    ranges = table(app, "p50")
    for column in ("p10", "p50", "p90"):
        assert list(ranges[column]) == [c.fmt_money(m["revenue"][column], "BRL", "en")
                                        for m in months]  # fmt: skip
    assert ranges["deals"][0] == page.deals_text(
        *(months[0]["won_deals"][k] for k in ("p10", "p50", "p90")), "en"
    )
    assert ranges["won"][0] == c.fmt_money(months[0]["won_to_date"], "BRL", "en")
    # The first card is this month's P50; the fan chart names its parts in the reader's words.
    label = "Likely revenue in Nov 2026 (P50)"
    assert [m.value for m in app.metric if m.label == label] == [
        c.card_money(months[0]["revenue"]["p50"], "BRL", "en").shown
    ]
    fan = json.loads(app.get("plotly_chart")[0].proto.spec)
    names = {trace.get("name") for trace in fan["data"]}
    assert {"Won so far", "P10–P90 range", "Likely revenue (P50)"} <= names
    assert "Goal" not in names  # no goal imported on this warehouse
    assert fan["layout"]["yaxis"]["title"]["text"] == "Revenue (BRL)"
    # No goal: the page says so and where in the app to set one.
    assert any("There are no goals" in i.value and "Sales goals tab of Settings" in i.value
               for i in app.caption)  # fmt: skip
    # The weighted pipeline: each stage's chance beside the closed deals it rests on.
    weighted = table(app, "closed")
    stages = [s for s in expected["open_pipeline"]["stages"] if s["open_deals"]]
    assert sorted(weighted["closed"]) == sorted(c.fmt_number(s["closed_deals"], "en")
                                                for s in stages)  # fmt: skip
    assert sorted(weighted["chance"]) == sorted(page.share(s["probability"], "en")
                                                for s in stages)  # fmt: skip
    # Two years of history: the seasonal model, so no fallback statement.
    assert not app.warning


def test_a_goal_shows_its_chance_and_risk(goals_url: str, make_app: MakeApp) -> None:  # noqa: F811
    app = make_app(goals_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    result = result_for(goals_url)
    goal = next(g for g in result.goals if g.user_id is None)
    assert goal.goal == 500_000.0  # the two sellers' November goals
    ranges = table(app, "p50")
    row = ranges.iloc[0]
    assert row["goal"] == c.fmt_money(goal.goal, "BRL", "en")
    assert row["chance"] == page.share(goal.probability, "en")
    assert row["gap"] == c.fmt_money(goal.gap, "BRL", "en")
    assert (
        row["risk"] == f"{page.RISK_MARKS[goal.risk]} {page.t(f'forecast.risk.{goal.risk}', 'en')}"
    )
    assert ranges["goal"][1] == ""  # no December goal: an empty cell, not a zero
    assert any(m.value == page.risk_badge(goal.risk, "en") for m in app.markdown)
    fan = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert "Goal" in {trace.get("name") for trace in fan["data"]}
    # Per seller: Samuel's own goal, chance and risk.
    per_seller = next(d.value for d in app.dataframe
                      if "name" in d.value.columns and "goal" in d.value.columns)  # fmt: skip
    samuel = next(g for g in result.goals if g.user_id == SAMUEL)
    labels = forecasts.labels(parse_database_url(goals_url))
    shown = per_seller.set_index("name").loc[labels.sellers[SAMUEL]]
    assert shown["chance"] == page.share(samuel.probability, "en")
    assert shown["goal"] == c.fmt_money(samuel.goal, "BRL", "en")


def test_the_page_speaks_the_chosen_language(goals_url: str, make_app: MakeApp) -> None:  # noqa: F811
    app = make_app(goals_url, FORECAST, lang="pt-BR", **OCTOBER).run()
    no_exception(app)
    result = result_for(goals_url)
    assert result.company is not None
    assert [s.value for s in app.subheader][:1] == ["Faixa por mês"]
    ranges = table(app, "p50")
    assert ranges["month"][0] == "nov. de 2026"
    assert ranges["p50"][0] == c.fmt_money(result.company.months[0].revenue.p50, "BRL", "pt-BR")
    assert "Risco" in ranges["risk"][0]
    fan = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert fan["layout"]["separators"] == ",."
    assert "Meta" in {trace.get("name") for trace in fan["data"]}


def test_a_short_history_gets_the_statement_of_what_is_missing(
    synced_url: str, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = result_for(synced_url, SHORT)
    assert result.status == "insufficient_history"
    app = at(make_app, synced_url, SHORT, FORECAST, monkeypatch, lang="en")
    no_exception(app)
    statement = page.insufficient_text(result, "en")
    assert f"holds {result.closed_months} closed month" in statement
    assert any(i.value == statement for i in app.info)
    assert not any("p50" in d.value.columns for d in app.dataframe)  # no number
    # The facts stay below.
    assert any(m.label == "Revenue so far" for m in app.metric)


def test_a_history_under_a_year_says_the_simpler_model_is_used(
    synced_url: str, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = result_for(synced_url, UNDER_A_YEAR)
    assert result.status == "ok" and result.new_leads is not None
    assert result.new_leads.volume.method == "recent_mean"
    app = at(make_app, synced_url, UNDER_A_YEAR, FORECAST, monkeypatch, lang="es")
    no_exception(app)
    assert any("modelo más simple" in w.value for w in app.warning)
    months = str(len(result.new_leads.volume.history))
    assert any(f"solo {months} meses de historial" in m.value for m in app.markdown)


def test_the_overview_card_shows_the_range(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, lang="en", **OCTOBER).run()
    no_exception(app)
    company = result_for(synced_url).company
    assert company is not None
    month = company.months[0].revenue
    assert [m.value for m in app.metric if m.label == "Likely month revenue (P50)"] == [
        c.card_money(month.p50, "BRL", "en").shown
    ]
    expected = (f"Likely between {c.fmt_money(month.p10, 'BRL', 'en')} and "
                f"{c.fmt_money(month.p90, 'BRL', 'en')} (P10–P90).")  # fmt: skip
    assert any(cap.value == expected for cap in app.caption)


def test_the_overview_card_with_a_short_history(
    synced_url: str, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = at(make_app, synced_url, SHORT, OVERVIEW, monkeypatch, lang="en")
    no_exception(app)
    assert not any(m.label == "Likely month revenue (P50)" for m in app.metric)
    assert any(cap.value.startswith("No forecast yet") for cap in app.caption)


def test_the_forecast_is_cached_per_filters_not_per_period() -> None:
    """The forecast ignores the period and the channels: every page and period of the same
    minute and pipeline/seller filters shares one simulation."""
    scope = Scope(start=AS_OF.date(), end=AS_OF.date(), as_of=AS_OF, pipelines=(1,),
                  sellers=(2,), channels=("paid",))  # fmt: skip
    request = metrics_data.Request("duckdb:///x", "v1", scope)
    other = metrics_data.Request("duckdb:///x", "v1", scope.with_period(OCT_1, OCT_31))
    assert metrics_data.forecast_request(request) == metrics_data.forecast_request(other)
    kept = metrics_data.forecast_request(request).scope
    assert (kept.as_of, kept.pipelines, kept.sellers, kept.channels) == (AS_OF, (1,), (2,), ())


def test_the_method_says_why_a_mean_was_used() -> None:
    short = page.method_text("volume", "recent_mean", 7, "en")
    assert short.startswith("Leads created per month: only 7 months of history")
    failed = page.method_text("volume", "recent_mean", 20, "en")
    assert "did not fit the 20 months" in failed
    assert "yearly seasonality" in page.method_text("wins_per_lead", "holt_winters_seasonal",
                                                    26, "en")  # fmt: skip


# -- pacing, recommendations and the accuracy record ------------------------------------------


def test_the_recommendations_name_the_numbers_of_the_forecast_command(
    goals_url: str,  # noqa: F811
    make_app: MakeApp,
) -> None:
    app = make_app(goals_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    run = CliRunner().invoke(
        cli, ["forecast", "--json", "--as-of", AS_OF.isoformat(), "--db", goals_url]
    )
    assert run.exit_code == 0, run.output
    expected = json.loads(run.stdout)
    keys = [r["key"] for r in expected["recommendations"]]
    assert "close_gap" in keys  # the goals are above the P50
    shown = next(m.value for m in app.markdown if m.value.startswith("- "))
    bullets = shown.splitlines()
    assert len(bullets) == len(keys)
    gap = next(r for r in expected["recommendations"] if r["key"] == "close_gap")
    n = gap["numbers"]
    line = next(b for b in bullets if "short of the goal at P50" in b)
    assert line.startswith(f"- Nov 2026: {c.fmt_money(n['gap'], 'BRL', 'en')} short")
    for part in (
        f"{c.fmt_number(n['deals_needed'], 'en')} more won deals at the current average "
        f"ticket of {c.fmt_money(n['average_ticket'], 'BRL', 'en')}",
        f"about {c.fmt_number(n['leads_needed'], 'en')} more leads at the current "
        f"{page.share(n['lead_to_win_rate'], 'en')} lead-to-win rate",
        f"goal {c.fmt_money(n['goal'], 'BRL', 'en')}",
    ):
        assert part in line
    labels = forecasts.labels(parse_database_url(goals_url))
    for r in expected["recommendations"]:
        typed = Recommendation(r["key"], date.fromisoformat(r["month"]), r["user_id"],
                               r["numbers"])  # fmt: skip
        assert f"- {page.recommendation_text(typed, labels, 'BRL', 'en')}" in bullets
    # Pacing beside the goal: the company's November goal per working day, as --json has it.
    pace = next(p for p in expected["pacing"] if p["user_id"] is None)
    caption = next(cap.value for cap in app.caption if cap.value.startswith("To reach it"))
    assert c.fmt_money(pace["revenue_per_day"], "BRL", "en") in caption
    assert f"{pace['working_days_left']} working days" in caption
    # One count of working days on the page: the month's card (the report's) is the pacing's,
    # and the calendar behind it is named (the emulated account is Brazilian).
    (card,) = [m.value for m in app.metric if m.label == "Working days left"]
    assert card == str(pace["working_days_left"])
    calendars = [cap.value for cap in app.caption if cap.value.startswith("Working-day calendar")]
    assert calendars and set(calendars) == {"Working-day calendar: Brazil (BR)."}
    pacing = table(app, "per_day")
    assert set(pacing["per_day"]) >= {c.fmt_money(p["revenue_per_day"], "BRL", "en")
                                      for p in expected["pacing"] if p["revenue_per_day"]}  # fmt: skip


def test_the_recommendations_speak_portuguese(goals_url: str, make_app: MakeApp) -> None:  # noqa: F811
    app = make_app(goals_url, FORECAST, lang="pt-BR", **OCTOBER).run()
    no_exception(app)
    shown = next(m.value for m in app.markdown if m.value.startswith("- "))
    assert "para a meta na P50" in shown and "ao ticket médio atual de R$" in shown
    assert "Calendário de dias úteis: Brasil (BR)." in {cap.value for cap in app.caption}


def test_the_accuracy_record_says_it_builds_up(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    assert any("the record builds up as each sync stores" in cap.value for cap in app.caption)
    assert not any("inside" in d.value.columns for d in app.dataframe)


@pytest.fixture(scope="module")
def snapshots_url(synced_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the synced warehouse with two stored forecasts of October 2026: the one made
    before the month with a range around anything won, the mid-month one far above it."""
    base = tmp_path_factory.mktemp("snapshots")
    serving = parse_database_url(synced_url).serving_path
    assert serving is not None
    shutil.copytree(serving.parent, base / "warehouse", ignore=shutil.ignore_patterns("*.lock"))
    url = f"duckdb:///{base / 'warehouse' / 'kommo.duckdb'}"
    target = parse_database_url(url)

    def snapshot(made: date, p10: float, p50: float, p90: float) -> dict[str, Any]:
        return {"made_on": made, "as_of": datetime(made.year, made.month, made.day, 12),
                "month": OCT_1, "revenue_p10": p10, "revenue_p50": p50, "revenue_p90": p90,
                "won_deals_p10": 1.0, "won_deals_p50": 2.0, "won_deals_p90": 3.0,
                "method": "holt_damped", "seed": 0}  # fmt: skip

    rows = [
        snapshot(date(2026, 9, 30), 0.0, 1_000.0, 100_000_000.0),
        snapshot(date(2026, 10, 10), 90_000_000.0, 95_000_000.0, 100_000_000.0),
    ]
    model_store.replace_input_rows(target, "forecast_snapshots", rows, delete_where="1 = 1")
    Warehouse(target, Settings(data_dir=base / "data", database_url=url).data_dir).publish()
    return url


def test_the_accuracy_record_scores_the_stored_forecasts(
    snapshots_url: str, make_app: MakeApp
) -> None:
    record = forecasts.accuracy(
        parse_database_url(snapshots_url),
        account.load_modelled(parse_database_url(snapshots_url)),
        now=AS_OF,
    )
    assert [m.month for m in record.months] == [OCT_1]
    october = record.months[0]
    assert october.actual > 0
    app = make_app(snapshots_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    shown = table(app, "before_inside")
    row = shown.iloc[0]
    assert row["month"] == "Oct 2026"
    assert row["actual"] == c.fmt_money(october.actual, "BRL", "en")
    assert row["before"] == "R$0.00–R$100,000,000.00 (R$1,000.00)"
    assert row["before_inside"] == "✅ Inside"
    assert row["mid_inside"] == "❌ Outside"
    mid = october.mid_month
    assert mid is not None and mid.error > 0
    assert row["mid_error"].startswith(f"+{c.fmt_money(mid.error, 'BRL', 'en')} (+")
    summary = ("Last month: made before the month, actual inside the range 1 of 1 times; "
               "made mid-month, 0 of 1 times.")  # fmt: skip
    assert any(m.value == summary for m in app.markdown)
    # The same record in Spanish.
    es = make_app(snapshots_url, FORECAST, lang="es", **OCTOBER).run()
    no_exception(es)
    assert table(es, "before_inside").iloc[0]["mid_inside"] == "❌ Fuera"
