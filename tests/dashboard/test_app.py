"""The dashboard in Streamlit's AppTest, against a synced warehouse and against none, plus its
pure rules (presets, comparison periods, time-zone bounds, query strings, messages, exports)."""

from __future__ import annotations

import io
import re
import shutil
import socket
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import openpyxl
import pandas as pd
import pytest
import typer
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from kommo_analytics.cli import dashboard_cmd
from kommo_analytics.dashboard import ENV_DATABASE_URL, components, data, filters
from kommo_analytics.dashboard.app_pages import data_health
from kommo_analytics.dashboard.app_pages import leads as leads_page
from kommo_analytics.dashboard.export import to_csv, to_xlsx
from kommo_analytics.dashboard.filters import (
    Comparison,
    FilterState,
    Preset,
    comparison_range,
    decode_params,
    encode_params,
    resolve_preset,
)
from kommo_analytics.kommo.entities import KNOWN_TRACKING_CODES
from kommo_analytics.service import health
from kommo_analytics.service.account import Account
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.text import i18n
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp, sql

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
# São Paulo has had no daylight saving time since 2019: local time is UTC−3 all year, so a
# local midnight is 03:00 UTC. The tests write UTC bounds out by hand from that fact instead of
# reusing the dashboard's conversion.
UTC_MINUS_3 = timedelta(hours=3)
HEALTH = "app_pages/data_health.py"
LEADS = "app_pages/leads.py"

LIVE_LEADS = "SELECT count(*) FROM {t}leads WHERE NOT is_deleted"
LIVE_LEADS_CREATED = LIVE_LEADS + " AND created_at >= ? AND created_at < ?"


def shown_count(app: AppTest) -> int:
    """The "N leads" line above the table, as a number."""
    (line,) = [m.value for m in app.markdown if re.search(r"\d+\s+leads?\*\*$", m.value)]
    return int(re.sub(r"\D", "", line))


def sp_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    lower = datetime(first.year, first.month, first.day, tzinfo=UTC) + UTC_MINUS_3
    upper = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) + UTC_MINUS_3
    return lower, upper


def w(name: str, locale: i18n.Locale) -> str:
    """A sidebar widget's key (filter widgets are keyed per language)."""
    return filters.widget_key(name, locale)


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


# -- pure rules ---------------------------------------------------------------------------------


def test_every_message_exists_in_every_locale_with_the_same_placeholders() -> None:
    reference = i18n.MESSAGES[i18n.DEFAULT_LOCALE]
    for locale in i18n.LOCALES:
        messages = i18n.MESSAGES[locale]
        assert set(messages) == set(reference), locale
        for key, text in messages.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            expected = {f for _, f, _, _ in string.Formatter().parse(reference[key]) if f}
            assert fields == expected, (locale, key)
            assert text.strip(), (locale, key)
    # Every preset and comparison has its label.
    for key in (
        *(f"preset.{p}" for p in Preset),
        *(f"compare.{c}" for c in Comparison),
    ):
        assert key in reference, key


def test_babel_formats_money_numbers_and_dates_per_locale() -> None:
    assert i18n.money(1234, "BRL", "pt-BR") == "R$\xa01.234,00"
    assert i18n.money(1234, "BRL", "en") == "R$1,234.00"
    assert i18n.number(14531, "es") == "14.531"
    moment = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)
    assert i18n.moment(moment, SAO_PAULO, "pt-BR") == "25/11/2026 23:30"
    assert i18n.ago(moment - timedelta(hours=3), moment, "en") == "3 hours ago"
    assert i18n.tn("leads.count", 1, "en") == "1 lead"
    assert i18n.tn("leads.count", 1982, "pt-BR") == "1.982 leads"


TODAY = date(2026, 11, 25)  # a Wednesday


@pytest.mark.parametrize(
    ("preset", "today", "expected"),
    [
        (Preset.TODAY, TODAY, (TODAY, TODAY)),
        (Preset.LAST_7_DAYS, TODAY, (date(2026, 11, 19), TODAY)),
        (Preset.LAST_30_DAYS, TODAY, (date(2026, 10, 27), TODAY)),
        (Preset.LAST_90_DAYS, TODAY, (date(2026, 8, 28), TODAY)),
        (Preset.THIS_MONTH, TODAY, (date(2026, 11, 1), TODAY)),
        (Preset.LAST_MONTH, TODAY, (date(2026, 10, 1), date(2026, 10, 31))),
        (Preset.LAST_MONTH, date(2026, 1, 15), (date(2025, 12, 1), date(2025, 12, 31))),
        (Preset.LAST_MONTH, date(2024, 3, 31), (date(2024, 2, 1), date(2024, 2, 29))),
        (Preset.THIS_QUARTER, TODAY, (date(2026, 10, 1), TODAY)),
        (Preset.THIS_QUARTER, date(2026, 3, 31), (date(2026, 1, 1), date(2026, 3, 31))),
        (Preset.THIS_YEAR, TODAY, (date(2026, 1, 1), TODAY)),
    ],
)
def test_presets_are_inclusive_day_ranges_ending_today(
    preset: Preset, today: date, expected: tuple[date, date]
) -> None:
    assert resolve_preset(preset, today) == expected


def test_a_custom_range_is_put_in_order_and_needs_both_dates() -> None:
    assert resolve_preset(Preset.CUSTOM, TODAY, date(2026, 3, 1), date(2026, 1, 1)) == (
        date(2026, 1, 1),
        date(2026, 3, 1),
    )
    with pytest.raises(ValueError):
        resolve_preset(Preset.CUSTOM, TODAY, date(2026, 3, 1), None)


def test_comparison_periods() -> None:
    nov = (date(2026, 11, 1), date(2026, 11, 25))
    # 25 days, ending the day before the period starts.
    assert comparison_range(*nov, Comparison.PREVIOUS_PERIOD) == (
        date(2026, 10, 7),
        date(2026, 10, 31),
    )
    assert comparison_range(*nov, Comparison.PREVIOUS_YEAR) == (
        date(2025, 11, 1),
        date(2025, 11, 25),
    )
    # 29 February has no twin a year before: the 28th stands in.
    assert comparison_range(date(2024, 2, 1), date(2024, 2, 29), Comparison.PREVIOUS_YEAR) == (
        date(2023, 2, 1),
        date(2023, 2, 28),
    )
    assert comparison_range(*nov, Comparison.NONE) is None


def test_query_params_round_trip_and_survive_bad_values() -> None:
    state = FilterState(
        locale="es",
        preset=Preset.CUSTOM,
        start=date(2026, 1, 1),
        end=date(2026, 3, 31),
        comparison=Comparison.NONE,
        pipelines=(8813109, 8814616),
        users=(6821760,),
    )
    params = encode_params(state)
    assert params == {
        "lang": "es",
        "period": "custom",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "compare": "none",
        "pipeline": "8813109,8814616",
        "user": "6821760",
    }
    assert decode_params(params) == state
    relative = FilterState(preset=Preset.THIS_MONTH)
    assert "from" not in encode_params(relative)
    assert decode_params(encode_params(relative)) == relative
    # A hand-edited link: unknown values fall back to the defaults, bad ids are dropped, and
    # reversed dates are put in order.
    assert decode_params(
        {"lang": "fr", "period": "fortnight", "compare": "?", "pipeline": "12,x,12,3"}
    ) == FilterState(pipelines=(3, 12))
    assert decode_params({"period": "custom", "from": "2026-02-30", "to": "2026-03-01"}) == (
        FilterState()
    )
    assert decode_params({"period": "custom", "from": "2026-03-01", "to": "2026-01-01"}) == (
        FilterState(preset=Preset.CUSTOM, start=date(2026, 1, 1), end=date(2026, 3, 1))
    )


def test_exports_hold_every_row_and_defuse_formulas() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "name": ['=HYPERLINK("http://evil")', "Ação & Cia"],
            "pipeline_name": ["Vendas", "Vendas"],
            "status_name": ["Venda ganha", "Negociação"],
            "user_name": ["Ana", None],
            "created_at": health.utc_times(
                pd.Series([datetime(2026, 11, 26, 2, 30, tzinfo=UTC)] * 2)
            ),
            "price": [1500, None],
            "status_id": [142, 73810801],
            "utm_source": ["google", None],
            "utm_medium": ["-cpc", None],
            "utm_campaign": [None, None],
        }
    )
    account = Account("Acme", "acme", "BRL", "America/Sao_Paulo")
    values = leads_page.lead_values(frame, account, "en")
    columns = leads_page.columns_for("America/Sao_Paulo")
    csv = pd.read_csv(io.BytesIO(to_csv(values, columns, "en")), encoding="utf-8-sig")
    assert len(csv) == 2
    assert csv["Name"].tolist() == ['\'=HYPERLINK("http://evil")', "Ação & Cia"]
    assert csv["Medium (utm_medium)"].tolist()[0] == "'-cpc"
    assert csv["Name (link in Kommo)"].tolist()[0] == "https://acme.kommo.com/leads/detail/1"
    # 02:30 UTC is 23:30 the day before in the account's zone.
    assert csv["Created (America/Sao_Paulo)"].tolist()[0] == "11/25/2026 23:30"
    assert csv["Status"].tolist() == ["Won", "Open"]

    data = to_xlsx(values, columns, "en", sheet="Leads", currency="BRL")
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Leads"]
    assert sheet.max_row == 3  # header + two leads
    name = sheet.cell(row=2, column=1)
    assert name.data_type == "s" and name.value == '\'=HYPERLINK("http://evil")'
    assert sheet.cell(row=2, column=7).value == 1500  # the value stays a number
    assert sheet.cell(row=2, column=6).value == datetime(2026, 11, 25, 23, 30)

    pt_values = leads_page.lead_values(frame, account, "pt-BR")
    shown, _ = components.shown_frame(pt_values, leads_page.COLUMNS, "pt-BR", "BRL")
    assert shown["price"].tolist() == ["R$\xa01.500,00", ""]
    assert shown["status"].tolist() == ["Ganho", "Em aberto"]


# -- the app on a synced warehouse ---------------------------------------------------------------


def test_both_pages_render_from_the_synced_warehouse(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, page=LEADS).run()
    no_exception(app)
    assert app.title[0].value == "Leads"
    assert len(app.dataframe) == 1
    app.switch_page(HEALTH).run()
    no_exception(app)
    assert app.title[0].value == "Saúde dos dados"
    assert [s.value for s in app.subheader] == [
        "Sincronização",
        "Últimas sincronizações",
        "Atualização por fluxo",
        "Códigos de rastreamento",
        "Linhas por tabela",
        "Qualidade dos dados",
    ]
    assert len(app.dataframe) == 4
    assert any("qualidade" in i.value for i in app.info)


@pytest.mark.parametrize("which", ["missing", "empty"])
def test_without_a_sync_every_page_says_how_to_get_data(
    make_app: MakeApp, which: str, missing_url: str, empty_url: str
) -> None:
    url = missing_url if which == "missing" else empty_url
    app = make_app(url, page=LEADS, lang="en").run()
    for page in (None, HEALTH):
        if page:
            app.switch_page(page).run()
        no_exception(app)
        assert not app.dataframe
        (message,) = [i.value for i in app.info if i.value.startswith("Nothing has been synced")]
        assert "kommo-analytics" not in message and "demo.sh" not in message
        links = [link.proto.label for link in app.get("page_link")]
        if page is None:  # an admin (local mode) is sent to the Data health page's sync
            assert message.endswith("Start a sync on the Data health page.")
            assert links == ["Open Data health → Sync"]
        else:  # no Kommo account configured in the tests: the page says how to set one up
            assert message.endswith(
                "The message above says how to set up the Kommo account to sync."
            )
            assert any("KOMMO_BASE_URL" in i.value for i in app.info) and not links
    assert any("Data-quality checks run after the first sync" in c.value for c in app.caption)
    # The sidebar still works: no pipeline or seller to offer, the language still switches.
    assert app.sidebar.multiselect(key=w(filters.K_PIPELINES, "en")).options == []


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("sqlite:///nope.db", "unsupported scheme", "set DATABASE_URL"),
        # Nothing listens on port 1: the connection is refused at once.
        (
            "postgresql+psycopg://kommo:hunter2@127.0.0.1:1/kommo",
            "cannot read the warehouse postgresql+psycopg://kommo@127.0.0.1:1/kommo",
            "check DATABASE_URL and that the database server is running",
        ),
    ],
)
def test_an_unreadable_warehouse_shows_the_error_and_its_hint(
    make_app: MakeApp, url: str, message: str, hint: str
) -> None:
    app = make_app(url, page=LEADS, lang="en").run()
    for page in (None, HEALTH):
        if page:
            app.switch_page(page).run()
        no_exception(app)
        (error,) = [e.value for e in app.error]
        assert error.startswith("The warehouse cannot be read: ") and message in error
        assert "hunter2" not in error
        assert any(i.value.startswith(f"What to do: {hint}") for i in app.info)


def test_a_new_sync_changes_the_cache_key(synced_url: str, tmp_path: Path) -> None:
    """Cached results are keyed by the warehouse's version, so what a sync writes shows up on
    the next render instead of after the cache's TTL."""
    source = parse_database_url(synced_url).serving_path
    assert source is not None
    copy = tmp_path / "kommo.duckdb"
    shutil.copy(source, copy)
    url = f"duckdb:///{copy}"
    before = data.probe(url)
    assert before.ready and len(data.load_runs(url, before.version)) == 1
    with duckdb.connect(str(copy)) as con:  # what the publish of a second run amounts to
        con.execute(
            "INSERT INTO kommo_raw.sync_runs (run_id, started_at, finished_at, status, mode) "
            "VALUES ('second', now(), now(), 'ok', 'incremental')"
        )
    after = data.probe(url)
    assert after.version != before.version
    assert len(data.load_runs(url, after.version)) == 2
    assert len(data.load_runs(url, before.version)) == 1  # the old key still holds old rows


def test_the_leads_shown_are_the_live_leads_created_on_the_account_days(
    make_app: MakeApp, synced_url: str
) -> None:
    app = make_app(synced_url, LEADS, period="custom", **{"from": "2026-11-01", "to": "2026-11-25"})
    app.run()
    no_exception(app)
    lower, upper = sp_day_bounds(date(2026, 11, 1), date(2026, 11, 25))
    ((expected,),) = sql(synced_url, LIVE_LEADS_CREATED, (lower, upper))
    assert expected > 0
    table = app.dataframe[0].value
    assert shown_count(app) == expected
    assert len(table) == min(expected, DEFAULT_PAGE_SIZE)  # one page of them (test_page_leads.py)
    # Every row names the lead and links to it in Kommo, on the account's subdomain.
    ((subdomain,),) = sql(synced_url, "SELECT subdomain FROM {t}account")
    links = rf"https://{subdomain}\.kommo\.com/leads/detail/(\d+)#.+"
    assert table["name"].str.fullmatch(links).all()
    assert table["name"].str.extract(links)[0].tolist() == table["id"].tolist()


def test_a_late_evening_lead_is_on_its_local_day_not_its_utc_day(
    make_app: MakeApp, synced_url: str
) -> None:
    rows = sql(synced_url, "SELECT id, created_at FROM {t}leads WHERE NOT is_deleted ORDER BY id")
    # Created between 21:00 and 24:00 in São Paulo: already the next day in UTC.
    lead_id, created = next((i, c.astimezone(UTC)) for i, c in rows if c.astimezone(UTC).hour < 3)
    local_day = (created - UTC_MINUS_3).date()
    utc_day = created.date()
    assert local_day != utc_day

    def ids_shown(day: date) -> set[str]:
        app = make_app(synced_url, LEADS, period="custom", **{"from": str(day), "to": str(day)})
        app.run()
        no_exception(app)
        return {str(i) for i in app.dataframe[0].value["id"]} if app.dataframe else set()

    assert str(lead_id) in ids_shown(local_day)
    assert str(lead_id) not in ids_shown(utc_day)


def test_filters_change_the_leads_shown(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, LEADS, period="custom", **{"from": "2024-01-01", "to": "2026-12-31"})
    app.run()
    ((total,),) = sql(synced_url, LIVE_LEADS)
    assert shown_count(app) == total  # the range covers the whole history

    ((pipeline, in_pipeline),) = sql(
        synced_url,
        "SELECT pipeline_id, count(*) FROM {t}leads WHERE NOT is_deleted "
        "GROUP BY pipeline_id ORDER BY count(*) LIMIT 1",
    )
    app.sidebar.multiselect(key=w(filters.K_PIPELINES, "pt-BR")).set_value([pipeline]).run()
    no_exception(app)
    assert shown_count(app) == in_pipeline < total
    assert set(app.dataframe[0].value["pipeline"]) == {
        sql(synced_url, "SELECT name FROM {t}pipelines WHERE id = ?", (pipeline,))[0][0]
    }
    assert app.query_params["pipeline"] == str(pipeline)

    ((seller, sold),) = sql(
        synced_url,
        "SELECT responsible_user_id, count(*) FROM {t}leads WHERE NOT is_deleted "
        "AND pipeline_id = ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
        (pipeline,),
    )
    app.sidebar.multiselect(key=w(filters.K_USERS, "pt-BR")).set_value([seller]).run()
    assert shown_count(app) == sold < in_pipeline

    # A preset counts from "today" in the account's zone (the pinned clock: 25 Nov 2026).
    app.sidebar.multiselect(key=w(filters.K_PIPELINES, "pt-BR")).set_value([]).run()
    app.sidebar.multiselect(key=w(filters.K_USERS, "pt-BR")).set_value([]).run()
    app.sidebar.selectbox(key=w(filters.K_PERIOD, "pt-BR")).set_value("last_7_days").run()
    no_exception(app)
    assert PINNED_NOW.astimezone(SAO_PAULO).date() == date(2026, 11, 25)
    lower, upper = sp_day_bounds(date(2026, 11, 19), date(2026, 11, 25))
    ((week,),) = sql(synced_url, LIVE_LEADS_CREATED, (lower, upper))
    assert shown_count(app) == week < total
    assert app.query_params["period"] == "last_7_days" and "from" not in app.query_params


def test_query_params_set_the_widgets_and_follow_their_changes(
    make_app: MakeApp, synced_url: str
) -> None:
    ((pipeline,),) = sql(synced_url, "SELECT min(id) FROM {t}pipelines")
    params = {
        "lang": "es",
        "period": "custom",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "compare": "previous_year",
        "pipeline": str(pipeline),
    }
    app = make_app(synced_url, **params).run()
    no_exception(app)
    sidebar = app.sidebar
    assert sidebar.selectbox(key=filters.K_LANG).value == "es"
    assert sidebar.selectbox(key=w(filters.K_PERIOD, "es")).value == "custom"
    assert sidebar.date_input(key=w(filters.K_FROM, "es")).value == date(2026, 1, 1)
    assert sidebar.date_input(key=w(filters.K_TO, "es")).value == date(2026, 3, 31)
    assert sidebar.selectbox(key=w(filters.K_COMPARE, "es")).value == "previous_year"
    assert sidebar.multiselect(key=w(filters.K_PIPELINES, "es")).value == [pipeline]
    assert app.query_params == params  # unchanged: the link reproduces itself
    assert any(c.value.startswith("Comparación: 1 ene") for c in sidebar.caption)

    sidebar.date_input(key=w(filters.K_TO, "es")).set_value(date(2026, 2, 28)).run()
    sidebar.selectbox(key=w(filters.K_COMPARE, "es")).set_value("none").run()
    assert app.query_params == {**params, "to": "2026-02-28", "compare": "none"}
    # Switching pages keeps the filters in the URL.
    app.switch_page(HEALTH).run()
    assert app.query_params == {**params, "to": "2026-02-28", "compare": "none"}


def test_the_language_switch_changes_the_strings(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, LEADS, period="custom", **{"from": "2026-11-01", "to": "2026-11-25"})
    app.run()
    ((pipeline,),) = sql(synced_url, "SELECT min(id) FROM {t}pipelines")
    app.sidebar.multiselect(key=w(filters.K_PIPELINES, "pt-BR")).set_value([pipeline]).run()
    period = app.sidebar.selectbox(key=w(filters.K_PERIOD, "pt-BR"))
    assert (period.label, period.options[-1]) == ("Período", "Personalizado")
    assert "Em aberto" in set(app.dataframe[0].value["status"])
    count_pt = shown_count(app)

    app.sidebar.selectbox(key=filters.K_LANG).set_value("en").run()
    no_exception(app)
    # Each filter is drawn afresh under its English key, holding the same choice.
    period = app.sidebar.selectbox(key=w(filters.K_PERIOD, "en"))
    assert (period.label, period.value, period.options[-1]) == ("Period", "custom", "Custom")
    assert app.sidebar.multiselect(key=w(filters.K_PIPELINES, "en")).value == [pipeline]
    assert app.sidebar.multiselect(key=w(filters.K_USERS, "en")).label == "Sellers"
    assert "Open" in set(app.dataframe[0].value["status"])
    assert shown_count(app) == count_pt  # the language changes words, not rows
    assert app.query_params["lang"] == "en"
    app.switch_page(HEALTH).run()
    assert app.title[0].value == "Data health"

    app.sidebar.selectbox(key=filters.K_LANG).set_value("es").run()
    assert app.title[0].value == "Salud de los datos"


def test_data_health_shows_the_warehouse_bookkeeping(make_app: MakeApp, synced_url: str) -> None:
    stream_label, table_label = data_health.stream_label, data_health.table_label
    app = make_app(synced_url, lang="en")
    app.run()
    app.switch_page(HEALTH).run()
    no_exception(app)
    runs, streams, _tracking, counts = (frame.value for frame in app.dataframe)

    ((requests, rows_json),) = sql(synced_url, "SELECT requests, rows_json FROM {t}sync_runs")
    assert runs["status"].tolist() == ["Finished"]
    assert runs["mode"].tolist() == ["Full"]
    assert runs["requests"].tolist() == [f"{requests:,}"]
    assert '"leads": 1982' in rows_json and "Leads: 1,982" in runs["rows_per_stream"][0]
    # Streams and tables by the names people use, never the sync's keys.
    assert "Calls logged on contacts: " in runs["rows_per_stream"][0]
    assert "contact_calls" not in runs["rows_per_stream"][0]

    state = dict(sql(synced_url, "SELECT stream, watermark FROM {t}sync_state"))
    assert sorted(streams["stream"]) == sorted(stream_label(name, "en") for name in state)
    assert not set(streams["stream"]) & set(state) - {"leads"}  # "Leads" is its own name
    # Watermarks are seconds; shown in São Paulo time, and against the pinned clock (three
    # hours after the history ends) they are three hours old.
    leads_row = streams[streams["stream"] == "Leads"].iloc[0]
    expected_time = datetime.fromtimestamp(state["leads"], UTC).astimezone(SAO_PAULO)
    assert leads_row["watermark"] == f"11/25/26, {expected_time:%-I:%M}\u202fPM"
    assert leads_row["age"] == "3 hours ago"

    labels = {table_label(name, "en"): name for name in health.RAW_TABLES}
    assert len(labels) == len(health.RAW_TABLES) and set(counts["table"]) <= set(labels)
    expected_counts = {
        label: sql(synced_url, f"SELECT count(*) FROM {{t}}{labels[label]}")[0][0]
        for label in counts["table"]
    }
    assert {"Leads", "Events", "Sync runs", "Calls"} <= set(expected_counts)
    assert dict(zip(counts["table"], counts["rows"], strict=True)) == {
        label: f"{n:,}" for label, n in expected_counts.items()
    }
    assert not set(counts["table"]) & (set(health.RAW_TABLES) - {"leads"})


@pytest.mark.parametrize("lang", ["pt-BR", "es", "en"])
def test_every_stream_and_raw_table_has_a_name_for_people(lang: i18n.Locale) -> None:
    stream_label, table_label = data_health.stream_label, data_health.table_label
    # The names come from the declarations: a stream or table added to the sync without one
    # fails here, in every language.
    for names, label in ((health.STREAMS, stream_label), (health.RAW_TABLES, table_label)):
        shown = [label(name, lang) for name in names]
        for text, name in zip(shown, names, strict=True):
            assert text and text != name and "_" not in text, name
    assert stream_label("a_future_stream", lang) == "a_future_stream"  # another version's
    assert stream_label("contact_calls", "pt-BR") == "Ligações registradas em contatos"


def test_data_health_shows_a_killed_run_as_interrupted_not_running(
    make_app: MakeApp, synced_url: str, tmp_path: Path
) -> None:
    source = parse_database_url(synced_url).sync_path
    assert source is not None
    shutil.copytree(source.parent, tmp_path / "warehouse")
    url = f"duckdb:///{tmp_path / 'warehouse' / source.name}"
    target = parse_database_url(url)
    # What a sync killed mid-run leaves: its first row, still `running`, and no lock held.
    store = Warehouse(target, tmp_path / "data")
    store.execute(
        f"INSERT INTO {target.qualified('sync_runs')} (run_id, started_at, status, mode, "
        "rows_json, requests, retries, rate_limited, refreshes) "  # nosec B608
        "VALUES ('killed', TIMESTAMP '2026-11-25 20:00:00', 'running', 'incremental', "
        "'{}', 0, 0, 0, 0)"
    )
    store.publish()
    app = make_app(url, lang="en")
    app.run()
    app.switch_page(HEALTH).run()
    no_exception(app)
    runs = app.dataframe[0].value
    assert "Interrupted" in runs["status"].tolist()
    assert "Running" not in runs["status"].tolist()


def test_data_health_lists_the_tracking_codes_and_marks_those_no_rule_uses(
    make_app: MakeApp, synced_url: str, tmp_path: Path
) -> None:
    source = parse_database_url(synced_url).serving_path
    assert source is not None
    copy = tmp_path / "kommo.duckdb"
    shutil.copy(source, copy)
    url = f"duckdb:///{copy}"
    schema = parse_database_url(url).dataset
    with duckdb.connect(str(copy)) as con:
        # A code of this account's own on two live leads: kept by the sync, ignored by the
        # defaults.
        con.execute(
            f"INSERT INTO {schema}.lead_tracking (lead_id, code, name, field_type, value) "
            "SELECT id, 'LANDING_VARIANT', 'Landing variant', 'tracking_data', 'b' "
            f"FROM {schema}.leads WHERE NOT is_deleted ORDER BY id LIMIT 2"
        )
    app = make_app(url, lang="en")
    app.run()
    app.switch_page(HEALTH).run()
    no_exception(app)
    assert "Tracking codes" in [s.value for s in app.subheader]
    shown = app.dataframe[2].value
    expected = sql(
        url,
        "SELECT t.code, count(DISTINCT t.lead_id) FROM {t}lead_tracking t "
        "JOIN {t}leads l ON l.id = t.lead_id WHERE NOT l.is_deleted AND trim(t.value) <> '' "
        "GROUP BY t.code",
    )
    assert len(expected) > 1  # the emulated account's own codes, and ours
    assert dict(zip(shown["code"], shown["leads"], strict=True)) == {
        code: f"{n:,}" for code, n in expected
    }
    used = dict(zip(shown["code"], shown["used"], strict=True))
    assert used["LANDING_VARIANT"] == "No"
    assert shown.set_index("code").loc["LANDING_VARIANT", "leads"] == "2"
    # The default rules use every known tracking code, and no code an account made up (the
    # emulated account has codes of its own too, like real ones).
    assert used == {c: "Yes" if c in KNOWN_TRACKING_CODES else "No" for c in used}
    unused = [c for c, v in zip(shown["code"], shown["used"], strict=True) if v == "No"]
    assert any(f"No channel rule uses: {', '.join(unused)}." in c.value for c in app.caption)


def test_the_tracking_table_leaves_the_used_column_empty_without_a_model() -> None:
    codes = pd.DataFrame({"code": ["UTM_SOURCE", "FROM"], "name": ["utm_source", None],
                          "leads": [1200, 3]})  # fmt: skip
    frame = data_health.tracking_frame(codes, frozenset({"utm_source"}), "pt-BR")
    assert frame.to_dict("list") == {
        "code": ["UTM_SOURCE", "FROM"],
        "name": ["utm_source", ""],
        "leads": ["1.200", "3"],
        "used": ["Sim", "Não"],
    }
    assert set(data_health.tracking_frame(codes, None, "en")["used"]) == {""}


# -- the command ---------------------------------------------------------------------------------


def command() -> typer.Typer:
    """The command on an app of its own (the lead registers it in `cli/main.py`)."""
    app = typer.Typer()
    dashboard_cmd.register(app)

    @app.callback()
    def main() -> None:  # with a callback, Typer keeps `dashboard` as a named subcommand
        pass

    return app


def test_the_command_refuses_a_busy_port_and_a_bad_url_before_starting() -> None:
    runner = CliRunner()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            command(), ["dashboard", "--port", str(port), "--db", "duckdb:///x.duckdb"]
        )
    assert result.exit_code == 2
    assert f"cannot serve the dashboard on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr

    result = runner.invoke(command(), ["dashboard", "--db", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "unsupported scheme" in result.stderr


def test_the_command_hands_streamlit_the_absolute_warehouse_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DATA_DIR is relative to where the command runs: the app gets (and the screen shows) the
    absolute file, so the dashboard cannot quietly read another folder's."""
    started: dict[str, str] = {}

    class Child:
        def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
            started.update(env)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    for name in ("DATABASE_URL", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dashboard_cmd.subprocess, "Popen", Child)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(command(), ["dashboard", "--port", str(port)])
    assert result.exit_code == 0, result.output
    expected = tmp_path / "data" / "kommo.duckdb"
    assert started[ENV_DATABASE_URL] == f"duckdb:///{expected}"
    assert str(expected) in result.stdout.replace("\n", "")


def test_streamlit_is_started_on_the_entrypoint_headless_and_without_telemetry() -> None:
    cmd = dashboard_cmd.streamlit_command("0.0.0.0", 8600)
    assert cmd[1:5] == ["-m", "streamlit", "run", str(dashboard_cmd.APP_PATH)]
    assert dashboard_cmd.APP_PATH.is_file()
    options = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert options["--server.address"] == "0.0.0.0"
    assert options["--server.port"] == "8600"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    # The product's theme, whatever folder the command runs from: every key one Streamlit knows.
    from streamlit import config as streamlit_config

    from kommo_analytics.dashboard import theme

    themed = {k.removeprefix("--"): v for k, v in options.items() if k.startswith("--theme.")}
    assert themed == {f"theme.{key}": value for key, value in theme.THEME.items()}
    assert set(themed) <= set(streamlit_config._config_options_template)
    assert options["--theme.primaryColor"] == "#2E5C8A"
    assert theme.LOGO.is_file() and theme.ICON.is_file()
    assert theme.LOGO.read_text().lstrip().startswith("<svg")


def test_data_health_words_the_last_runs_warnings_in_each_language() -> None:
    import json

    from kommo_analytics.dashboard.app_pages.data_health import run_warnings

    logged = json.dumps(
        [
            {"kind": "no_timezone", "used": "UTC"},
            {"kind": "null_jump", "table": "leads", "column": "price", "run_rows": 1982,
             "run_null_share": 1.0, "stored_rows": 1982, "stored_null_share": 0.0},
            {"kind": "from_a_newer_version"},
        ]
    )  # fmt: skip
    en = run_warnings(logged, "en")
    assert len(en) == 2
    assert "ACCOUNT_TIMEZONE" in en[0] and "UTC" in en[0]
    assert "price (Leads)" in en[1] and "100" in en[1] and "1,982" in en[1]
    pt = run_warnings(logged, "pt-BR")
    assert "fuso horário" in pt[0] and "1.982" in pt[1]
    assert "zona horaria" in run_warnings(logged, "es")[0]
    assert run_warnings(None, "en") == [] and run_warnings("not json", "en") == []


def test_no_runtime_warnings_stay_silent_after_an_app_run(
    make_app: MakeApp, synced_url: str
) -> None:
    """A cached function called outside a Streamlit runtime (the pure-function tests) logs "No
    runtime found" per call, flooding the test output; the suite silences that one message. An
    AppTest run resets Streamlit's logger levels, so silencing must survive it."""
    import logging

    import streamlit as st

    make_app(synced_url).run()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    keep = Keep()
    logger.addHandler(keep)
    try:

        @st.cache_data
        def doubled(n: int) -> int:
            return 2 * n

        assert doubled(2) == 4
        logger.warning("another warning")  # the logger still speaks
    finally:
        logger.removeHandler(keep)
    assert [r.getMessage() for r in records] == ["another warning"]


PAGES_WITH_DATA = (
    None,  # the overview
    LEADS,
    HEALTH,
    "app_pages/intake.py",
    "app_pages/funnel.py",
    "app_pages/activities.py",
    "app_pages/sales.py",
    "app_pages/performance.py",
    "app_pages/forecast.py",
)


@pytest.mark.parametrize("lang", ["pt-BR", "es", "en"])
def test_every_page_gives_the_same_no_data_advice_with_the_absolute_path(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    # DATA_DIR is relative to where the dashboard runs: the advice must say where that is.
    monkeypatch.chdir(tmp_path)
    app = make_app("duckdb:///data/kommo.duckdb", lang=lang).run()
    locale = i18n.normalise_locale(lang)

    def advice(action: str) -> str:
        where = f"`{tmp_path}/data/kommo.duckdb`"
        return i18n.t("warehouse.no_data", locale, where=where, action=i18n.t(action, locale))

    for page in PAGES_WITH_DATA:
        # The Data health page holds the sync; without a Kommo account it says how to add one.
        expected = advice("sync.first.no_account" if page == HEALTH else "sync.first.admin")
        assert str(tmp_path / "data" / "kommo.duckdb") in expected
        assert "kommo-analytics" not in expected and "demo.sh" not in expected
        if page:
            app.switch_page(page).run()
        no_exception(app)
        infos = [i.value for i in app.info]
        assert infos.count(expected) == 1, (page, infos)
        assert not any("terminal" in i.lower() for i in infos)
    assert list(tmp_path.rglob("*")) == []


def test_data_health_warns_of_a_misspelt_setting_and_files_others_can_read(
    make_app: MakeApp, missing_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("DATABASE_ULR", "duckdb:///elsewhere.duckdb")
    app = make_app(missing_url, lang="en")
    app.run()
    app.switch_page(HEALTH).run()
    no_exception(app)
    shown = [w.value for w in app.warning]
    assert shown[0] == (
        "DATABASE_ULR (environment variable) is not a setting and is ignored. "
        "Did you mean DATABASE_URL?"
    )
    assert shown[1].startswith("Other users of this computer can read or change 1 ")
    assert shown[1].endswith(f"Make them private with: `chmod 700 {data}`")


def test_the_set_up_warnings_are_worded_in_each_language(tmp_path: Path) -> None:
    from kommo_analytics.dashboard.app_pages.data_health import setup_messages
    from kommo_analytics.settings import UnknownSetting

    found = health.SetupWarnings(
        (UnknownSetting("DATA_DIRR", ".env", "DATA_DIR"), UnknownSetting("SMTP_X", "environment", None)),
        health.ExposedFiles(tuple(tmp_path / f"f{i}" for i in range(1200)), "chmod -R go-rwx d"),
    )  # fmt: skip
    pt, es, en = (setup_messages(found, lang) for lang in ("pt-BR", "es", "en"))
    assert pt[0] == (
        "DATA_DIRR (.env) não é uma configuração e foi ignorada. Você quis dizer DATA_DIR?"
    )
    assert "variable de entorno" in es[1] and ".env.example" in en[1]
    assert "1.200 arquivos" in pt[2] and "1,200 of the" in en[2] and "`chmod -R go-rwx d`" in es[2]
    assert f"{tmp_path / 'f2'}, …" in en[2] and str(tmp_path / "f3") not in en[2]


def test_a_run_without_row_counts_shows_an_empty_cell() -> None:
    # A sync_runs row whose rows_json is NULL (a run written by hand, or by a tool) comes out of
    # pandas as None, NaN or NA depending on the backend and the column's other values; the page
    # showed a traceback for NA and NaN instead of an empty cell.
    import math

    import pandas as pd

    from kommo_analytics.dashboard.app_pages import data_health

    for missing in (None, math.nan, pd.NA):
        assert data_health.rows_per_stream(missing, "en") == ""


def _uploader_page() -> None:
    from kommo_analytics.dashboard.app import widget_texts

    widget_texts("pt-BR")


def test_the_file_uploaders_own_words_are_in_the_readers_language() -> None:
    # Streamlit has "Upload" and "200MB per file • CSV" in English only: the styles the app adds
    # put the catalogue's words in their place.
    app = AppTest.from_function(_uploader_page).run()
    no_exception(app)
    (style,) = [e.proto.body for e in app.get("html")]
    assert 'content: "Escolher arquivo"' in style
    assert 'content: "Arquivo de até 200 MB"' in style
