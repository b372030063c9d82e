"""The "5 Performance", "6 Forecast" and "Definitions" pages: their pure rules, the series they
add, and the pages in Streamlit's AppTest against the synced warehouse, a copy of it with goals
and costs imported, and no warehouse at all. Numbers on the pages are checked against the report
(`service.reports.report`) for the same scope."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import goals
from kommo_analytics.dashboard.app_pages import definitions as definitions_page
from kommo_analytics.dashboard.app_pages import performance as performance_page
from kommo_analytics.metrics import series
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.results import Report
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import model_schema
from kommo_analytics.service import account, inputs, reports
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.text import definitions, i18n
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp, listed

PERFORMANCE = "app_pages/performance.py"
FORECAST = "app_pages/forecast.py"
DEFINITIONS = "app_pages/definitions.py"
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
AS_OF = PINNED_NOW.replace(second=0, microsecond=0)  # the dashboard's scope rounds to the minute
DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
# Two sellers of the emulated account (seed 3) and their goals: big enough that the team is
# still short of the November goal at the pinned "now".
SAMUEL, YASMIN = 6886327, 6912388
GOALS = (
    "month,user,revenue_goal,deals_goal\n"
    f"2026-11,{SAMUEL},300000,10\n2026-11,{YASMIN},200000,\n2026-10,{SAMUEL},60000,6\n"
)
COSTS = "date,channel,amount\n2026-10-01,paid,10000\n2026-10-01,organic,1000\n"


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def report_for(url: str, start: date, end: date, **filters: Any) -> Report:
    target = parse_database_url(url)
    acc = account.load_modelled(target)
    scope = Scope(start=start, end=end, as_of=AS_OF, pipelines=filters.get("pipelines", ()),
                  sellers=filters.get("sellers", ()), channels=filters.get("channels", ()))  # fmt: skip
    return reports.report(target, acc, reports.params(acc, scope, now=AS_OF, sla_hours=2.0))


def metric(app: AppTest, label: str) -> str:
    (value,) = [m.value for m in app.metric if m.label == label]
    return str(value)


def texts(app: AppTest) -> str:
    return "\n".join(
        [e.value for e in (*app.info, *app.caption, *app.markdown)] + [e.label for e in app.metric]
    )


@pytest.fixture(scope="module")
def goals_url(synced_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the synced warehouse with goals and costs imported (the shared one stays as it
    is: other pages' tests read it without goals)."""
    base = tmp_path_factory.mktemp("goals")
    serving = parse_database_url(synced_url).serving_path
    assert serving is not None
    source = serving.parent
    shutil.copytree(source, base / "warehouse", ignore=shutil.ignore_patterns("*.lock"))
    url = f"duckdb:///{base / 'warehouse' / 'kommo.duckdb'}"
    settings = Settings(data_dir=base / "data", database_url=url)
    target = parse_database_url(url)
    (base / "goals.csv").write_text(GOALS)
    (base / "costs.csv").write_text(COSTS)
    inputs.import_goals(settings, target, base / "goals.csv", replace=True, now=PINNED_NOW)
    inputs.import_costs(settings, target, base / "costs.csv", replace=True, now=PINNED_NOW)
    return url


# -- pure rules ---------------------------------------------------------------------------------


def test_needed_per_working_day_spreads_the_gap_over_the_working_days_left() -> None:
    needed = goals.needed_per_working_day
    assert needed(None, 100.0, 3) is None  # no goal: nothing to pace
    assert needed(90_000.0, 30_000.0, 3) == pytest.approx(20_000.0)
    assert needed(90_000.0, 95_000.0, 3) == 0.0  # beaten
    assert needed(90_000.0, 90_000.0, 0) == 0.0  # reached on the last day
    assert needed(90_000.0, 30_000.0, 0) is None  # a gap and no day left: no rate closes it


def test_conversion_matrix_leaves_cells_without_leads_empty() -> None:
    frame = pd.DataFrame(
        {
            "responsible_user_id": [1, 1, 2, None],
            "channel": ["paid", "organic", "paid", "paid"],
            "leads": [4, 2, 5, 1],
            "won": [1, 0, 5, 0],
        }
    )
    conversion, leads, won = performance_page.conversion_matrix(
        frame, [2, 1], ["organic", "paid", "referral"]
    )
    assert list(conversion.index) == [2, 1, -1]  # the ranking's order, nobody last
    assert list(conversion.columns) == ["organic", "paid"]  # channels with leads, rule order
    assert conversion.loc[1, "paid"] == 25.0
    assert conversion.loc[1, "organic"] == 0.0  # leads but no win: 0 %, not empty
    assert conversion.isna().loc[2, "organic"]  # no lead: empty, not 0 %
    assert leads.isna().loc[2, "organic"] and won.isna().loc[2, "organic"]
    assert conversion.loc[-1, "paid"] == 0.0


def test_definitions_search_ignores_case_and_accents() -> None:
    win_rate = definitions.definition("sales.win_rate_pct", "pt-BR")
    assert definitions_page.fold("Conversão TAXA") == "conversao taxa"
    assert definitions_page.matches(win_rate, "")
    assert definitions_page.matches(win_rate, "taxa GANHO")
    assert definitions_page.matches(win_rate, "sales.win_rate")
    assert not definitions_page.matches(win_rate, "taxa zzz")


def test_definitions_sections_follow_the_document_order() -> None:
    every = definitions.all_definitions("en")
    grouped = definitions_page.sections(every)
    assert [m for m, _ in grouped] == [*definitions.MODULES, definitions_page.CONTEXT]
    assert [d.key for _, items in grouped for d in items] == [d.key for d in every]


def test_seller_month_pacing_adds_up_to_the_forecast_block(goals_url: str) -> None:
    target = parse_database_url(goals_url)
    acc = account.load_modelled(target)
    scope = Scope(start=date(2026, 10, 1), end=date(2026, 10, 31), as_of=AS_OF)
    params = reports.params(acc, scope, now=AS_OF, sla_hours=2.0)
    frame = run_all(
        target,
        {
            "p": series.seller_month_pacing(
                Model(reports.TABLE_COLUMNS, model_schema(target)), params
            )
        },
    )
    pacing = {int(r["user_id"]): r for r in frame["p"].to_dict("records")}
    assert set(pacing) == {SAMUEL, YASMIN}  # November goals only, not October's
    for user, goal in ((SAMUEL, 300_000.0), (YASMIN, 200_000.0)):
        forecast = report_for(goals_url, date(2026, 10, 1), date(2026, 10, 31),
                              sellers=(user,)).forecast  # fmt: skip
        assert pacing[user]["goal"] == forecast.month_goal == goal
        assert pacing[user]["revenue"] == pytest.approx(forecast.month_revenue_to_date)
        assert pacing[user]["won"] == forecast.month_won_deals


# -- Performance --------------------------------------------------------------------------------


def test_performance_ranks_sellers_as_the_report_does(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, PERFORMANCE, lang="en", **OCTOBER).run()
    no_exception(app)
    report = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31))
    assert app.title[0].value == "Performance"
    subheaders = [s.value for s in app.subheader]
    for expected in ("Seller ranking", "Revenue per seller", "Goals vs actual in November 2026",
                     "Conversion by seller and channel", "Return per channel"):  # fmt: skip
        assert expected in subheaders
    ranking = app.dataframe[0].value
    sellers = report.sellers
    assert list(ranking["seller"]) == [s.name for s in sellers]
    assert list(ranking["won"]) == [c.fmt_number(s.won, "en") for s in sellers]
    assert list(ranking["revenue"]) == [c.fmt_money(s.revenue, "BRL", "en") for s in sellers]
    assert sum(s.won for s in sellers) == report.sales.won
    shown = texts(app)
    # Nothing saved: the page says where in the app to add it instead of showing zeros.
    assert "Set the goals in the Sales goals tab of Settings." in shown
    assert "Add the costs in the Costs tab of Settings" in shown
    assert "kommo-analytics" not in shown
    assert len(app.get("plotly_chart")) >= 2  # revenue per seller, seller × channel


def test_performance_follows_the_seller_and_channel_filters(
    synced_url: str, make_app: MakeApp
) -> None:
    app = make_app(synced_url, PERFORMANCE, lang="en", user=str(YASMIN), **OCTOBER).run()
    no_exception(app)
    report = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31), sellers=(YASMIN,))
    ranking = app.dataframe[0].value
    assert list(ranking["seller"]) == ["Yasmin Andrade"]
    assert list(ranking["leads"]) == [c.fmt_number(report.sellers[0].leads, "en")]

    paid = make_app(synced_url, PERFORMANCE, lang="en", channel="paid", **OCTOBER).run()
    no_exception(paid)
    report = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31), channels=["paid"])
    ranking = paid.dataframe[0].value
    assert list(ranking["won"]) == [c.fmt_number(s.won, "en") for s in report.sellers]
    roi = next(d.value for d in paid.dataframe if "roi" in d.value.columns)
    assert list(roi["channel"]) == ["Paid"]
    assert list(roi["leads"]) == [c.fmt_number(report.leads.total, "en")]


def test_performance_lists_the_leads_behind_a_seller(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, PERFORMANCE, lang="en", **OCTOBER).run()
    app.toggle(key="drill.performance_sellers.open").set_value(True).run()
    no_exception(app)
    report = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31))
    (yasmin,) = [s for s in report.sellers if s.user_id == YASMIN]
    picker = app.selectbox(key="drill.performance_sellers.en")
    (created,) = [o for o in picker.options if o.startswith("Yasmin Andrade: leads created")]
    (closed,) = [o for o in picker.options if o.startswith("Yasmin Andrade: deals closed")]
    picker.set_value(created).run()
    leads = app.dataframe[1].value
    assert len(leads) == yasmin.leads and set(leads["seller"]) == {"Yasmin Andrade"}
    app.selectbox(key="drill.performance_sellers.en").set_value(closed).run()
    assert len(app.dataframe[1].value) == yasmin.won + yasmin.lost


def test_performance_shows_goals_pacing_and_roi_once_imported(
    goals_url: str, make_app: MakeApp
) -> None:
    app = make_app(goals_url, PERFORMANCE, lang="en", **OCTOBER).run()
    no_exception(app)
    report = report_for(goals_url, date(2026, 10, 1), date(2026, 10, 31))
    f = report.forecast
    assert f.month_goal == 500_000.0
    needed = (f.month_goal - f.month_revenue_to_date) / f.working_days_left
    assert metric(app, "Needed per working day") == c.fmt_money(needed, "BRL", "en")
    assert metric(app, "Month goal") == c.card_money(500_000.0, "BRL", "en").shown
    ranking = app.dataframe[0].value
    (samuel,) = [s for s in report.sellers if s.user_id == SAMUEL]
    row = ranking[ranking["seller"] == samuel.name].iloc[0]
    assert row["goal"] == c.fmt_money(samuel.goal, "BRL", "en")
    assert row["attainment"] == c.fmt_pct(samuel.attainment_pct, "en")
    pacing = next(d.value for d in app.dataframe if "needed" in d.value.columns)
    assert set(pacing["seller"]) == {"Samuel Martins", "Yasmin Andrade"}
    assert metric(app, "Marketing ROI") == c.fmt_pct(report.marketing.roi_pct, "en")
    assert "Sales goals tab of Settings" not in texts(app)

    # Costs are per channel: a seller filter hides them, and the page says why.
    filtered = make_app(goals_url, PERFORMANCE, lang="en", user=str(SAMUEL), **OCTOBER).run()
    no_exception(filtered)
    assert any("not per seller or pipeline" in i.value for i in filtered.info)


def test_performance_speaks_the_chosen_language(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, PERFORMANCE, lang="pt-BR", **OCTOBER).run()
    no_exception(app)
    assert app.title[0].value == "Desempenho"
    assert "Ranking de vendedores" in [s.value for s in app.subheader]
    assert any("aba Metas de vendas das Configurações" in i.value for i in app.info)


# -- Forecast -----------------------------------------------------------------------------------


def open_pipeline_facts(app: AppTest) -> pd.DataFrame:
    """The facts' table of open deals by stage (the weighted pipeline above it has more columns)."""
    return next(
        d.value
        for d in app.dataframe
        if list(d.value.columns) == ["pipeline", "stage", "deals", "value"]
    )


def test_forecast_keeps_the_months_facts_below_the_forecast(
    synced_url: str, make_app: MakeApp
) -> None:
    app = make_app(synced_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    report = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31))
    f = report.forecast
    assert app.title[0].value == "Forecast"
    assert metric(app, "Revenue so far") == c.card_money(f.month_revenue_to_date, "BRL", "en").shown
    assert metric(app, "Deals won so far") == c.fmt_number(f.month_won_deals, "en")
    assert metric(app, "Working days left") == i18n.number(f.working_days_left, "en")
    assert any("not the period chosen in the sidebar" in cap.value for cap in app.caption)
    assert any("Sales goals tab of Settings" in i.value for i in app.info)
    table = open_pipeline_facts(app)
    assert list(table["deals"]) == [c.fmt_number(r.deals, "en") for r in f.open_pipeline]
    assert list(table["stage"]) == [r.name for r in f.open_pipeline]
    assert app.get("plotly_chart")

    paid = make_app(synced_url, FORECAST, lang="es", channel="paid", **OCTOBER).run()
    no_exception(paid)
    paid_f = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31),
                        channels=["paid"]).forecast  # fmt: skip
    assert paid.title[0].value == "Pronóstico"
    assert paid_f.month_revenue_to_date != f.month_revenue_to_date
    assert (
        metric(paid, "Ingresos hasta ahora")
        == c.card_money(paid_f.month_revenue_to_date, "BRL", "es").shown
    )


def test_forecast_lists_the_open_leads_of_a_stage(synced_url: str, make_app: MakeApp) -> None:
    app = make_app(synced_url, FORECAST, lang="en", **OCTOBER).run()
    app.toggle(key="drill.forecast_open.open").set_value(True).run()
    no_exception(app)
    stages = report_for(synced_url, date(2026, 10, 1), date(2026, 10, 31)).forecast
    biggest = max(stages.open_pipeline, key=lambda r: r.deals)
    picker = app.selectbox(key="drill.forecast_open.en")
    (option,) = [o for o in picker.options if f"· {biggest.name} (" in o
                 and o.endswith(f"({biggest.deals} deals)")]  # fmt: skip
    picker.set_value(option).run()
    leads = app.dataframe[-1].value  # the drill-down's list, below the facts
    assert listed(app)[-1] == biggest.deals  # a page of them at a time
    assert len(leads) == min(biggest.deals, DEFAULT_PAGE_SIZE)
    assert set(leads["stage"]) == {biggest.name}


def test_forecast_paces_the_month_goal(goals_url: str, make_app: MakeApp) -> None:
    app = make_app(goals_url, FORECAST, lang="en", **OCTOBER).run()
    no_exception(app)
    f = report_for(goals_url, date(2026, 10, 1), date(2026, 10, 31)).forecast
    needed = (f.month_goal - f.month_revenue_to_date) / f.working_days_left
    assert metric(app, "Month goal") == c.card_money(f.month_goal, "BRL", "en").shown
    assert metric(app, "Gap to goal") == c.card_money(f.month_gap_to_goal, "BRL", "en").shown
    assert metric(app, "Needed per working day") == c.fmt_money(needed, "BRL", "en")


# -- no data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [PERFORMANCE, FORECAST])
def test_pages_without_a_warehouse_say_how_to_get_data(
    page: str, empty_url: str, missing_url: str, make_app: MakeApp
) -> None:
    for url in (empty_url, missing_url):
        app = make_app(url, page, lang="en").run()
        no_exception(app)
        assert not app.dataframe and not app.metric
        assert any(i.value.endswith("Start a sync on the Data health page.") for i in app.info)


# -- Definitions --------------------------------------------------------------------------------


def documented(key: str) -> tuple[str, str]:
    """The title and first paragraph of `key`'s entry in docs/metrics.md."""
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    at = lines.index(f"`{key}`")
    title = lines[at - 2].removeprefix("### ")
    return title, lines[at + 2]


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def test_definitions_show_the_documented_text(missing_url: str, make_app: MakeApp) -> None:
    # No warehouse at all: the page does not need one.
    app = make_app(missing_url, DEFINITIONS, lang="en").run()
    no_exception(app)
    assert app.title[0].value == "Definitions"
    labels = [unescape(e.label) for e in app.expander]
    shown = [unescape(m.value) for m in app.markdown]
    assert len(labels) == len(definitions_page.for_readers(definitions.all_definitions("en")))
    for key in ("sales.win_rate_pct", "sellers.attainment_pct", "forecast.working_days_left"):
        title, text = documented(key)
        assert title in labels
        assert f"`{key}`" in shown
        assert text in shown
    assert "won ÷ (won + lost) × 100" in [code.value for code in app.code]
    assert [s.value for s in app.subheader][:2] == ["Common rules", "1. Lead intake and origin"]


@pytest.mark.parametrize("lang", ["pt-BR", "es", "en"])
def test_definitions_say_each_thing_once_and_only_what_readers_need(
    missing_url: str, make_app: MakeApp, lang: str
) -> None:
    app = make_app(missing_url, DEFINITIONS, lang=lang).run()
    no_exception(app)
    titles = [definitions_page.fold(unescape(e.label)) for e in app.expander]
    assert len(titles) == len(set(titles)), [t for t in titles if titles.count(t) > 1]
    keys = [unescape(m.value).strip("`") for m in app.markdown if m.value.startswith("`")]
    assert len(keys) > 100
    developer = [k for k in keys if k in definitions_page.DEVELOPER_ONLY
                 or (k.endswith(("_id", ".seed", ".status")) and k != "funnel.bottleneck_status_id")
                 or k.startswith(("period.", "filters.", "data_quality."))]  # fmt: skip
    assert developer == []
    # The headline metric stays where a table's column shares its title.
    assert {"sales.revenue", "sales.won", "leads.cost.per_lead"} <= set(keys)
    assert not {"sellers.revenue", "channels.revenue", "sellers.won"} & set(keys)


def test_definitions_search_and_language(missing_url: str, make_app: MakeApp) -> None:
    app = make_app(missing_url, DEFINITIONS, lang="pt-BR").run()
    no_exception(app)
    pt = definitions.definition("sales.win_rate_pct", "pt-BR").title
    assert pt != definitions.definition("sales.win_rate_pct", "en").title
    assert app.title[0].value == "Definições"
    assert pt in [unescape(e.label) for e in app.expander]

    app.text_input(key=definitions_page.SEARCH_KEY).set_value("taxa de ganho").run()
    no_exception(app)
    found = [unescape(e.label) for e in app.expander]
    assert pt in found and len(found) < 10
    assert any("encontrada" in cap.value for cap in app.caption)

    app.text_input(key=definitions_page.SEARCH_KEY).set_value("zzzz").run()
    assert not app.expander
    assert any("zzzz" in i.value for i in app.info)
