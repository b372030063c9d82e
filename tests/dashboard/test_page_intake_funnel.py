"""The pages "1 Leads and origin" and "2 Funnel" in Streamlit's AppTest: they render from the
synced warehouse, show the report's own numbers (the same ones `metrics --json` prints), follow
the filters and the language, list the leads behind a row, and explain an empty warehouse."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import components as c
from kommo_analytics.dashboard import filters, metrics_data
from kommo_analytics.dashboard.app_pages import intake as intake_page
from kommo_analytics.metrics.results import Report, UnknownOrigin
from kommo_analytics.service import inputs
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import Locale
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp, listed

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
    # No costs in the emulated account: no number, but how to import them.
    assert shown["Cost per lead"] == "—"
    assert any("kommo-analytics costs import" in m.value for m in app.caption)
    assert [s.value for s in app.subheader] == [
        "Leads by channel over time",
        f"First response time · {c.fmt_pct(response.within_sla_pct, 'en')} within "
        f"{c.fmt_hours(sla, 'en')}",
        "Channels",
        "Leads of unknown origin",
        "Origin by UTM",
    ]
    assert len(app.get("plotly_chart")) == 2

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
    assert not any("kommo-analytics costs import" in m.value for m in app.caption)


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
    # A funnel, box plots, abandonment bars and a Sankey diagram per pipeline with a cohort.
    assert len(app.get("plotly_chart")) == 4 * sum(1 for p in funnel if p.leads)

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
        assert any("`kommo-analytics sync`" in i.value for i in app.info)
