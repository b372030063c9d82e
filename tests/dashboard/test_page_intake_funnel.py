"""The pages "1 Leads and origin" and "2 Funnel" in Streamlit's AppTest: they render from the
synced warehouse, show the report's own numbers (the same ones `metrics --json` prints), follow
the filters and the language, list the leads behind a row, and explain an empty warehouse."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import filters, metrics_data
from kommo_analytics.dashboard.app_pages import funnel as funnel_page
from kommo_analytics.dashboard.app_pages import intake as intake_page
from kommo_analytics.metrics import series
from kommo_analytics.metrics.results import Pipeline, Report, Stage, UnknownOrigin
from kommo_analytics.service import inputs
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import Locale
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp, listed
from tests.dashboard.localisation import ENGLISH_MONTH, SI_SUFFIX

INTAKE = "app_pages/intake.py"
FUNNEL = "app_pages/funnel.py"
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31", "compare": "none"}


def open_page(make_app: MakeApp, url: str, page: str, **params: str) -> AppTest:
    """The page after a first run: the intake page's URL path is not its file name, so AppTest
    can find it only once st.navigation has registered the pages."""
    app = make_app(url, **params).run()
    app.switch_page(page).run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def report(url: str, *, pipelines: tuple[int, ...] = (), sellers: tuple[int, ...] = (),
           channels: tuple[str, ...] = ()) -> Report:  # fmt: skip
    """The report for October 2026 at the pinned clock, as the pages load it."""
    scope = Scope(
        start=date(2026, 10, 1), end=date(2026, 10, 31),
        as_of=PINNED_NOW.replace(second=0, microsecond=0), pipelines=pipelines,
        sellers=sellers, channels=channels,
    )  # fmt: skip
    request = metrics_data.Request(url=url, version="test", scope=scope)
    return metrics_data.load_report(request, load_settings().response_sla_hours)


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def lead_tables(app: AppTest) -> list[Any]:
    """The drill-downs' lead lists, in page order, after switching every drill-down on (they
    read no leads until asked)."""
    closed = [toggle for toggle in app.toggle if not toggle.value]
    for toggle in closed:
        toggle.set_value(True)
    if closed:
        app.run()
    return [d.value for d in app.dataframe if "seller" in d.value.columns]


def number(value: float, locale: Locale = "en") -> str:
    return c.fmt_number(value, locale)


# -- 1 Leads and origin -------------------------------------------------------------------------


def test_intake_shows_the_reports_numbers(make_app: MakeApp, synced_url: str) -> None:
    app = open_page(make_app, synced_url, INTAKE, lang="en", **OCTOBER)
    expected = report(synced_url)
    leads = expected.leads
    assert leads.total > 0
    assert app.title[0].value == "Leads and origin"
    shown = metrics(app)
    response = leads.response_time
    sla = load_settings().response_sla_hours
    assert shown["Leads created"] == number(leads.total)
    assert shown["First response (median)"] == c.fmt_hours(response.median_hours, "en")
    assert shown["First response (average)"] == c.fmt_hours(response.avg_hours, "en")
    assert shown[f"Answered within {c.fmt_hours(sla, 'en')}"] == c.fmt_pct(
        response.within_sla_pct, "en"
    )
    assert shown["Without response"] == number(response.without_response)
    # No costs in the emulated account: no number, but where in the app to add them.
    assert shown["Cost per lead"] == "—"
    assert any("in the Costs tab of Settings" in m.value for m in app.caption)
    assert [s.value for s in app.subheader] == [
        "Leads by channel over time",
        f"First response time · {c.fmt_pct(response.within_sla_pct, 'en')} within "
        f"{c.fmt_hours(sla, 'en')}",
        "Channels",
        "Leads of unknown origin",
        "Origin by UTM",
    ]
    assert len(app.get("plotly_chart")) == 2
    # The response buckets count the cards' leads: every lead of the period in one bar, the last
    # bar the "Without response" card, the bars up to the SLA's the within-SLA share.
    (bars,) = json.loads(app.get("plotly_chart")[1].proto.spec)["data"]
    assert sum(bars["y"]) == leads.total
    assert bars["y"][-1] == response.without_response
    assert bars["x"][-1] == "no response yet"
    in_sla = sum(bars["y"][: series.response_edges(sla).index(sla) + 1])
    assert 100 * in_sla / leads.total == pytest.approx(response.within_sla_pct)

    channels = app.dataframe[0].value
    assert channels["leads"].tolist() == [number(r.leads) for r in expected.channels]
    assert channels["won"].tolist() == [number(r.won) for r in expected.channels]
    assert set(channels["cost"]) == {""}  # not imported: empty, never 0
    for i, dimension in enumerate(("utm_source", "utm_medium", "utm_campaign"), start=1):
        table = [d.value for d in app.dataframe if "value" in d.value.columns][i - 1]
        assert table["leads"].tolist() == [number(r.leads) for r in getattr(leads.utm, dimension)]

    # The drill-downs list the leads behind the first row of each table.
    first_channel = next(r for r in expected.channels if r.leads)
    lists = lead_tables(app)
    assert len(lists) == 4
    assert len(lists[0]) == first_channel.leads
    assert set(lists[0]["channel"]) == {filters.channel_label(first_channel.channel, "en")}
    source_none = next(r for r in leads.utm.utm_source if r.value == "(none)")
    picker = app.selectbox(key="drill.intake_utm_source.en")
    (label,) = [o for o in picker.options if o.startswith("(no value)")]
    picker.set_value(label).run()
    assert len(lead_tables(app)[1]) == source_none.leads


def test_intake_says_how_many_leads_are_unknown_and_why(make_app: MakeApp, synced_url: str) -> None:
    app = open_page(make_app, synced_url, INTAKE, lang="en", **OCTOBER)
    unknown = report(synced_url).leads.unknown
    # The emulated account has robot-made leads without tracking data: the section has numbers.
    assert unknown.total > 0
    assert unknown.total == report(synced_url).leads.by_channel["unknown"]
    assert any(m.value.startswith(f"**{number(unknown.total)}** of ") for m in app.markdown)
    (table,) = [d.value for d in app.dataframe if "reason" in d.value.columns]
    assert table["reason"].tolist() == [
        "No tracking field at all",
        "No tag at all",
        "Created by a robot or an integration",
    ]
    assert table["leads"].tolist() == [
        number(getattr(unknown, k)) for k in ("no_tracking_field", "no_tag", "created_by_robot")
    ]
    assert all(table["fix"])


def test_the_unknown_reasons_table_is_localised() -> None:
    unknown = UnknownOrigin(total=1500, no_tracking_field=1200, no_tag=1500, created_by_robot=7)
    frame = intake_page.unknown_frame(unknown, "pt-BR")
    assert frame["reason"].tolist() == [
        "Sem nenhum campo de rastreamento",
        "Sem nenhuma tag",
        "Criados por robô ou integração",
    ]
    assert frame["leads"].tolist() == [1200, 1500, 7]  # counts, formatted by the table
    assert intake_page.unknown_frame(unknown, "es")["reason"][1] == "Sin ninguna etiqueta"


def test_intake_follows_the_channel_and_seller_filters(make_app: MakeApp, synced_url: str) -> None:
    everyone = report(synced_url)
    app = open_page(make_app, synced_url, INTAKE, lang="en", channel="paid", **OCTOBER)
    paid = report(synced_url, channels=("paid",))
    assert paid.leads.total == everyone.leads.by_channel["paid"]
    assert paid.leads.total < everyone.leads.total
    assert metrics(app)["Leads created"] == number(paid.leads.total)
    assert app.dataframe[0].value["channel"].tolist() == ["Paid"]  # the other channels hidden

    seller = next(s for s in everyone.sellers if 0 < s.leads < everyone.leads.total)
    app = open_page(make_app, synced_url, INTAKE, lang="en", user=str(seller.user_id), **OCTOBER)
    mine = report(synced_url, sellers=(seller.user_id,))
    assert mine.leads.total == seller.leads
    shown = metrics(app)
    assert shown["Leads created"] == number(seller.leads)
    assert shown["Without response"] == number(mine.leads.response_time.without_response)
    # Costs are per channel: with a seller filter the page says why they are empty.
    assert any("not per seller or pipeline" in m.value for m in app.caption)


def test_intake_shows_imported_costs(make_app: MakeApp, synced_url: str, tmp_path: Path) -> None:
    source = parse_database_url(synced_url).serving_path
    assert source is not None
    copy = tmp_path / "kommo.duckdb"
    shutil.copy(source, copy)
    url = f"duckdb:///{copy}"
    costs = tmp_path / "costs.csv"
    costs.write_text("date,channel,amount\n2026-10-01,paid,4500\n2026-10-15,organic,300.50\n")
    settings = load_settings(data_dir=tmp_path, database_url=url)
    inputs.import_costs(settings, parse_database_url(url), costs, replace=False, now=PINNED_NOW)

    app = open_page(make_app, url, INTAKE, lang="en", **OCTOBER)
    expected = report(url)
    per_lead = expected.leads.cost.per_lead
    assert per_lead == pytest.approx(4800.5 / expected.leads.total)
    assert metrics(app)["Cost per lead"] == c.fmt_money(per_lead, expected.currency, "en")
    table = app.dataframe[0].value.set_index("channel")
    paid = next(r for r in expected.channels if r.channel == "paid")
    assert table.loc["Paid", "cost"] == c.fmt_money(4500, expected.currency, "en")
    assert table.loc["Paid", "cpl"] == c.fmt_money(paid.cpl, expected.currency, "en")
    assert table.loc["Paid", "roi"] == c.fmt_pct(paid.roi_pct, "en")
    assert table.loc["Referral", "cost"] == ""  # no cost imported for it: unknown, not zero
    assert any("no cost was imported for that channel" in m.value for m in app.caption)
    assert not any("in the Costs tab of Settings" in m.value for m in app.caption)


def test_intake_compares_with_the_previous_period(make_app: MakeApp, synced_url: str) -> None:
    params = {**OCTOBER, "compare": "previous_period"}
    app = open_page(make_app, synced_url, INTAKE, lang="en", **params)
    october = report(synced_url).leads.total
    # The previous period of October's 31 days: 31 August to 30 September.
    scope = Scope(start=date(2026, 8, 31), end=date(2026, 9, 30),
                  as_of=PINNED_NOW.replace(second=0, microsecond=0))  # fmt: skip
    request = metrics_data.Request(url=synced_url, version="test", scope=scope)
    before = metrics_data.load_report(request, load_settings().response_sla_hours)
    (card,) = [m for m in app.metric if m.label == "Leads created"]
    assert before.leads.total != october
    assert card.delta == c.change(october, before.leads.total, "en", points=False)


# -- 2 Funnel -----------------------------------------------------------------------------------


def test_funnel_shows_each_pipelines_stages(make_app: MakeApp, synced_url: str) -> None:
    app = open_page(make_app, synced_url, FUNNEL, lang="en", **OCTOBER)
    funnel = report(synced_url).funnel
    assert len(funnel) > 1
    assert app.title[0].value == "Funnel"
    assert [tab.label for tab in app.tabs] == [p.name for p in funnel]
    cohort = [m.value for m in app.metric if m.label == "Cohort leads"]
    assert cohort == [number(p.leads) for p in funnel]
    assert [m.value for m in app.metric if m.label == "Open deals"] == [
        number(p.open_deals) for p in funnel
    ]
    velocity = [m.value for m in app.metric if m.label == "Sales velocity / day"]
    currency = report(synced_url).currency
    assert velocity == [c.fmt_money(p.sales_velocity_per_day, currency, "en") for p in funnel]

    # The bottleneck is named where there is one, and its absence explained where there is not.
    named = [p for p in funnel if p.bottleneck_status_id is not None]
    assert named, "the emulated account should have a bottleneck"
    for pipeline in named:
        stage = next(s for s in pipeline.stages if s.status_id == pipeline.bottleneck_status_id)
        assert any(stage.name in w.value for w in app.warning)
    without = len(funnel) - len(named)
    assert sum("No bottleneck" in i.value for i in app.info) == without

    stage_tables = [d.value for d in app.dataframe if "reached" in d.value.columns]
    assert len(stage_tables) == len(funnel)
    for table, pipeline in zip(stage_tables, funnel, strict=True):
        assert table["stage"].tolist() == [s.name for s in pipeline.stages]
        assert table["reached"].tolist() == [number(s.reached) for s in pipeline.stages]
    # A funnel, time in stage, abandonment bars and the moves per pipeline with a cohort.
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    assert len(charts) == 4 * sum(1 for p in funnel if p.leads)
    # The time chart's bars are the report's medians, in days.
    (median, _) = charts[1]["data"]
    shown = dict(zip(median["y"], median["x"], strict=True))
    first_stages = list(enumerate(funnel[0].stages, start=1))
    expected_days = {funnel_page.stage_label(i, s): s.median_hours_in_stage / 24
                     for i, s in first_stages if s.median_hours_in_stage is not None}  # fmt: skip
    assert expected_days and shown == pytest.approx(expected_days)

    # "Show the leads that reached a stage": the first stage's list is the whole cohort, a later
    # stage's list holds exactly the leads the report says reached it.
    first = funnel[0]
    # (a page of them is shown: the total is the table's "of N").
    assert len(lead_tables(app)[0]) == min(first.leads, DEFAULT_PAGE_SIZE)
    assert listed(app)[0] == first.stages[0].reached == first.leads
    picker = app.selectbox(key=f"funnel.drill.{first.pipeline_id}.en")
    picker.set_value(picker.options[2]).run()
    assert not app.exception
    lead_tables(app)
    assert listed(app)[0] == first.stages[2].reached


def test_funnel_follows_the_pipeline_and_seller_filters(make_app: MakeApp, synced_url: str) -> None:
    everyone = report(synced_url)
    pipeline = everyone.funnel[0]
    seller = next(s for s in everyone.sellers if 0 < s.leads < everyone.leads.total)
    app = open_page(make_app, synced_url, FUNNEL, lang="en", pipeline=str(pipeline.pipeline_id),
                    user=str(seller.user_id), **OCTOBER)  # fmt: skip
    (only,) = report(synced_url, pipelines=(pipeline.pipeline_id,),
                     sellers=(seller.user_id,)).funnel  # fmt: skip
    assert only.pipeline_id == pipeline.pipeline_id
    assert only.leads < pipeline.leads
    assert not app.tabs  # a single pipeline: no tabs, its name as a header
    assert app.header[0].value == pipeline.name
    assert metrics(app)["Cohort leads"] == number(only.leads)
    (table,) = [d.value for d in app.dataframe if "reached" in d.value.columns]
    assert table["reached"].tolist() == [number(s.reached) for s in only.stages]


def test_the_language_switch_changes_the_strings(make_app: MakeApp, synced_url: str) -> None:
    app = open_page(make_app, synced_url, INTAKE, lang="pt-BR", **OCTOBER)
    total = report(synced_url).leads.total
    assert app.title[0].value == "Leads e origem"
    assert metrics(app)["Leads criados"] == number(total, "pt-BR")
    assert app.subheader[0].value == "Leads por canal ao longo do tempo"
    app.switch_page(FUNNEL).run()
    assert app.title[0].value == "Funil"
    assert "Leads da coorte" in metrics(app)
    pt_labels = {m.label for m in app.metric}

    app = open_page(make_app, synced_url, FUNNEL, lang="es", **OCTOBER)
    assert app.title[0].value == "Embudo"
    es_labels = {m.label for m in app.metric}
    assert es_labels.isdisjoint(pt_labels - {"Leads de la cohorte"})
    app.switch_page(INTAKE).run()
    assert app.title[0].value == "Leads y origen"
    assert metrics(app)["Leads creados"] == number(total, "es")


@pytest.mark.parametrize("which", ["missing", "empty"])
def test_without_a_model_both_pages_say_how_to_get_data(
    make_app: MakeApp, which: str, missing_url: str, empty_url: str
) -> None:
    url = missing_url if which == "missing" else empty_url
    for page, title in ((INTAKE, "Leads and origin"), (FUNNEL, "Funnel")):
        app = open_page(make_app, url, page, lang="en")
        assert app.title[0].value == title
        assert not app.dataframe and not app.metric
        assert any(i.value.endswith("Start a sync on the Data health page.") for i in app.info)


# -- the four charts of issue 16, drawn from hand-built numbers -----------------------------------


def shown_text(fig: Any) -> str:
    """Every piece of text a figure can show: ticks, labels, bar texts, hovers, annotations."""
    return json.dumps(fig.to_plotly_json(), ensure_ascii=False)


def assert_localised(text: str, locale: Locale) -> None:
    assert not ENGLISH_MONTH.search(text) or locale == "en"
    assert not SI_SUFFIX.search(text)  # no "25.89k"
    if locale != "en":  # a decimal point between digits, outside the JSON's own numbers
        shown = re.findall(r'"(?:text|hovertext|ticktext|x|y)": (\[[^\]]*\]|"[^"]*")', text)
        assert not any(re.search(r"\d\.\d\D", s) for s in shown if '"' in s), shown


# Leads per bucket: up to 5 min, 5 min–1 h, 1–2 h (the SLA), 2–24 h, over 24 h, no response.
BUCKET_ROWS = pd.DataFrame({"bucket": [0, 1, 2, 3, 4, series.NO_RESPONSE],
                            "leads": [120, 340, 150, 410, 1980, 260]})  # fmt: skip


@pytest.mark.parametrize(
    ("locale", "labels", "first_text"),
    [
        ("pt-BR", ["até 5 min", "5 min a 1 h", "1 h a 2 h", "2 h a 24 h", "mais de 24 h",
                   "sem resposta ainda"], "120 · 3,7 %"),
        ("es", ["hasta 5 min", "5 min a 1 h", "1 h a 2 h", "2 h a 24 h", "más de 24 h",
                "sin respuesta aún"], "120 · 3,7 %"),
        ("en", ["up to 5 min", "5 min to 1 h", "1 h to 2 h", "2 h to 24 h", "over 24 h",
                "no response yet"], "120 · 3.7 %"),
    ],
)  # fmt: skip
def test_the_response_buckets_chart(locale: Locale, labels: list[str], first_text: str) -> None:
    table = series.response_bucket_table(BUCKET_ROWS, 2.0)
    fig = intake_page.response_figure(table, 2.0, locale)
    (bars,) = fig.data
    assert list(bars.x) == labels
    assert list(bars.y) == [120, 340, 150, 410, 1980, 260]  # 3,260 leads in all
    # 1,980 of 3,260 = 60.7 %; 120 of 3,260 = 3.7 %.
    assert bars.text[0] == first_text
    assert bars.text[4] == ("1,980 · 60.7 %" if locale == "en" else "1.980 · 60,7 %")
    # Green within the SLA (the first three), orange later, red for no response (the worst).
    colours = list(bars.marker.color)
    assert colours == [intake_page.WITHIN_SLA_COLOUR] * 3 + [intake_page.LATE_COLOUR] * 2 + [
        intake_page.NO_RESPONSE_COLOUR
    ]
    assert list(bars.marker.line.width) == [0, 0, 3, 0, 0, 0]  # the SLA's bucket outlined
    # Hover: 120 + 340 + 150 = 610 of 3,260 answered within 2 h = 18.7 %.
    assert ("18,7 %" if locale != "en" else "18.7 %") in bars.hovertext[2]
    assert fig.layout.separators == c.separators(locale)
    # Whole leads, never 0.5, written by Babel: 0, 500, …, 2.500 (pt-BR's thousands group).
    assert all(float(v).is_integer() for v in fig.layout.yaxis.tickvals)
    assert fig.layout.yaxis.ticktext[-1] == ("2,500" if locale == "en" else "2.500")
    assert_localised(shown_text(fig), locale)


def test_an_sla_between_the_edges_gets_a_bucket_of_its_own() -> None:
    # A 4 h SLA: 2–4 h and 4–24 h instead of 2–24 h; the outline moves to 2–4 h.
    rows = pd.DataFrame({"bucket": [3, 4], "leads": [7, 3]})
    fig = intake_page.response_figure(series.response_bucket_table(rows, 4.0), 4.0, "pt-BR")
    (bars,) = fig.data
    assert list(bars.x)[3:5] == ["2 h a 4 h", "4 h a 24 h"]
    assert list(bars.y) == [0, 0, 0, 7, 3, 0, 0]
    assert list(bars.marker.line.width) == [0, 0, 0, 3, 0, 0, 0]


def _stage(status_id: int, name: str, reached: int, abandoned: int) -> Stage:
    return Stage(status_id=status_id, name=name, reached=reached, conversion_to_next_pct=50.0,
                 avg_hours_in_stage=None, median_hours_in_stage=None, finished_stays=0,
                 abandoned=abandoned, abandonment_pct=100 * abandoned / reached)  # fmt: skip


# Three stages; "Proposta" (102) is the bottleneck, "Novo" (100) loses the most leads.
PIPELINE = Pipeline(
    pipeline_id=1, name="Vendas", leads=2000, won=90, open_deals=300, sales_velocity_per_day=None,
    stages=[_stage(100, "Novo", 2000, 600), _stage(101, "Qualificado", 1400, 100),
            _stage(102, "Proposta", 700, 50)],
    bottleneck_status_id=102,
)  # fmt: skip


def test_time_in_stage_is_median_and_p80_days() -> None:
    locale: Locale = "pt-BR"
    # Hours: Novo median 7.2, P80 31.2; Qualificado 36 / 120; Proposta none finished.
    times = pd.DataFrame({"pipeline_id": [1, 1], "status_id": [100, 101], "n": [1500, 900],
                          "median": [7.2, 36.0], "p80": [31.2, 120.0]})  # fmt: skip
    fig = funnel_page.time_figure(PIPELINE, times, locale)
    assert fig is not None
    median, p80 = fig.data
    assert list(median.y) == ["1. Novo", "2. Qualificado"]  # no stay in Proposta: no bar
    assert list(median.x) == pytest.approx([0.3, 1.5])  # 7.2 h and 36 h in days
    assert list(p80.x) == pytest.approx([1.3, 5.0])  # 31.2 h and 120 h
    # Under two days in hours, as the stage table shows them.
    assert list(p80.text) == ["7,2 h · P80 31,2 h", "36 h · P80 5 dias"]
    assert "Mediana: 7,2 h" in median.hovertext[0] and "1.500 passagens" in median.hovertext[0]
    # Ticks up to 1.4 × the longest P80 (7 days): a step of 2 days, labels by Babel.
    assert list(fig.layout.xaxis.ticktext) == ["0", "2", "4", "6", "8"]
    assert list(median.marker.color) == [funnel_page.STAGE_COLOUR] * 2  # the bottleneck has none
    assert_localised(shown_text(fig), locale)
    assert funnel_page.time_figure(PIPELINE, times.iloc[:0], locale) is None


def test_day_ticks_are_round_and_localised() -> None:
    assert funnel_page.day_ticks(0.3, "pt-BR") == ([0.0, 0.1, 0.2, 0.3, 0.4],
                                                   ["0", "0,1", "0,2", "0,3", "0,4"])  # fmt: skip
    values, texts = funnel_page.day_ticks(12.0, "es")  # a step of 2.5 days, one past 12
    assert texts == ["0", "2,5", "5", "7,5", "10", "12,5"]
    assert values[-1] == 12.5


def test_red_marks_only_the_bottleneck_the_banner_names() -> None:
    # Novo loses the most (30 %), but the banner names Proposta: only Proposta is red.
    assert funnel_page.abandonment_colours(PIPELINE) == [
        funnel_page.STAGE_COLOUR, funnel_page.STAGE_COLOUR, funnel_page.BOTTLENECK_COLOUR
    ]  # fmt: skip
    without = PIPELINE.model_copy(update={"bottleneck_status_id": None})
    assert funnel_page.BOTTLENECK_COLOUR not in funnel_page.abandonment_colours(without)


def test_moves_between_stages_are_ranked_with_backward_moves() -> None:
    won, lost = 142, 143
    flows = pd.DataFrame({
        "pipeline_id": [1, 1, 1, 1, 1, 1, 1, 2],
        "status_id": [100, 100, 101, 102, 101, won, 102, 200],
        "next_pipeline_id": [1, 1, 1, 1, 1, 1, 3, 2],
        "next_status_id": [101, lost, 102, 101, won, 102, 300, 201],
        "leads": [1400, 600, 700, 40, 90, 5, 2, 99],
    })  # fmt: skip
    moves = funnel_page.moves_of(PIPELINE, flows, "pt-BR")
    # Most leads first; the other pipeline's row (99 leads) is not this pipeline's.
    assert moves == [
        ("1. Novo", "2. Qualificado", "forward", 1400),
        ("2. Qualificado", "3. Proposta", "forward", 700),
        ("1. Novo", "Perdido", "lost", 600),
        ("2. Qualificado", "Ganho", "won", 90),
        ("3. Proposta", "2. Qualificado", "back", 40),
        ("Ganho", "3. Proposta", "back", 5),  # reopened
        ("3. Proposta", "Outro funil", "other", 2),
    ]
    fig = funnel_page.flow_figure(moves, "pt-BR")
    by_name = {bar.name: bar for bar in fig.data}
    assert set(by_name) == {"Avançou", "Perdido", "Ganho", "Voltou", "Outro funil ou etapa"}
    # 600 of Novo's 2,000 moves out = 30 %; 40 of Proposta's 42 = 95.2 %.
    assert list(by_name["Perdido"].text) == ["600 · 30 %"]
    assert list(by_name["Voltou"].text) == ["40 · 95,2 %", "5 · 100 %"]
    assert list(fig.layout.xaxis.ticktext) == ["0", "500", "1.000", "1.500"]  # whole, pt-BR
    # The bars top to bottom in the moves' order, "from → to".
    assert list(fig.layout.yaxis.categoryarray) == [f"{m[0]} → {m[1]}" for m in moves]
    assert_localised(shown_text(fig), "pt-BR")
