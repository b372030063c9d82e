"""The "3 Activities" and "4 Sales" pages in AppTest against the synced warehouse: they show the
numbers of the report for the same scope, follow the filters and the language, and say how to
get data when there is none. Plus the per-seller activity series against module 3's own
per-seller figures."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import filters
from kommo_analytics.metrics import activities, series
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.results import Report
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import model_schema
from kommo_analytics.service import account, reports
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE
from kommo_analytics.service.scope import Scope
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale
from kommo_analytics.warehouse.target import parse_database_url
from tests.dashboard.conftest import PINNED_NOW, MakeApp

ACTIVITIES = "app_pages/activities.py"
SALES = "app_pages/sales.py"
OCTOBER = {"period": "custom", "from": "2026-10-01", "to": "2026-10-31"}
START, END = date(2026, 10, 1), date(2026, 10, 31)


def report_for(url: str, *, sellers: tuple[int, ...] = (), channels: tuple[str, ...] = ()
               ) -> Report:  # fmt: skip
    """What `metrics --json` says for October at the dashboard's pinned "now"."""
    target = parse_database_url(url)
    acc = account.load_modelled(target)
    scope = Scope(start=START, end=END, as_of=PINNED_NOW, sellers=sellers, channels=channels)
    return reports.report(target, acc, reports.params(acc, scope, now=PINNED_NOW))


def no_exception(app: AppTest) -> None:
    assert not app.exception, [e.message for e in app.exception]


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def n(value: float, locale: Locale = "en") -> str:
    return i18n.number(value, locale)


def frame_with(app: AppTest, column: str) -> pd.DataFrame:
    (frame,) = [d.value for d in app.dataframe if column in d.value.columns]
    return frame


# -- 3 Activities -----------------------------------------------------------------------------------


def test_activity_by_seller_credits_like_module_3(synced_url: str) -> None:
    target = parse_database_url(synced_url)
    acc = account.load_modelled(target)
    params = reports.params(acc, Scope(start=START, end=END, as_of=PINNED_NOW), now=PINNED_NOW)
    model = Model(reports.TABLE_COLUMNS, model_schema(target))
    frame = run_all(target, {"s": series.activity_by_seller(model, params)})["s"]
    expected = activities.per_seller(run_all(target, activities.queries(model, params)))
    assert set(frame["user_id"]) == set(expected) and len(frame) == len(expected)
    for row in frame.itertuples():
        e = expected[row.user_id]
        assert (row.tasks_due, row.tasks_completed, row.tasks_on_time, row.overdue) == (
            e["tasks_total"], e["tasks_completed"], e["tasks_on_time"], e["overdue"],
        )  # fmt: skip
        assert (row.meetings_held, row.calls_out, row.calls_in, row.messages_out) == (
            e["meetings_held"], e["calls_outgoing"], e["calls_incoming"], e["messages_outgoing"],
        )  # fmt: skip
        assert row.call_seconds / 60 == pytest.approx(e["call_minutes"])


def test_activities_page_shows_the_report(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, ACTIVITIES, lang="en", compare="none", **OCTOBER).run()
    no_exception(app)
    report = report_for(synced_url)
    acts = report.activities
    assert app.title[0].value == "Activities"
    shown = metrics(app)
    assert shown["Tasks due"] == n(acts.tasks_total) != "0"
    assert shown["Tasks completed"] == n(acts.tasks_completed)
    assert shown["Completion rate"] == f"{n(round(acts.completion_rate_pct, 1))} %"
    assert shown["Overdue now"] == n(acts.overdue)
    assert shown["Calls made"] == n(acts.calls_outgoing)
    assert shown["Messages received"] == n(acts.messages_incoming)
    assert [s.value for s in app.subheader] == [
        "Activity per seller",
        f"Tasks due in the period and overdue now ({n(acts.overdue_in_period)})",
        "When activities happen (weekday × hour, time zone America/Sao_Paulo)",
        "Activities over time, by medium",
    ]
    # The per-seller table agrees with the report's sellers where both have the figure.
    per_seller = frame_with(app, "tasks_completed").set_index("seller")
    for s in report.sellers:
        assert per_seller.loc[s.name, "tasks_completed"] == n(s.tasks_completed)
        assert per_seller.loc[s.name, "calls"] == n(s.calls)
    # The overdue tasks of the period (the card's note counts them too), a page at a time,
    # those on a lead linked to it in Kommo.
    overdue = frame_with(app, "late")
    assert 0 < acts.overdue_in_period < acts.overdue
    assert len(overdue) == min(acts.overdue_in_period, DEFAULT_PAGE_SIZE)
    assert any(f"of {n(acts.overdue_in_period)} · page 1 of" in c.value for c in app.caption)
    assert overdue["due"].is_monotonic_decreasing  # the most recently due first
    links = overdue["lead"].dropna()
    assert len(links) and links.str.fullmatch(r"https://\w+\.kommo\.com/leads/detail/\d+#.+").all()


def test_activities_follow_the_seller_filter_and_the_language(
    make_app: MakeApp, synced_url: str
) -> None:
    everyone = report_for(synced_url)
    busiest = max(everyone.sellers, key=lambda s: s.tasks_completed)
    uid = int(busiest.user_id)
    one = report_for(synced_url, sellers=(uid,)).activities
    app = make_app(synced_url, ACTIVITIES, lang="pt-BR", compare="none", user=str(uid), **OCTOBER)
    app.run()
    no_exception(app)
    assert app.title[0].value == "Atividades"
    shown = metrics(app)
    assert shown["Tarefas com prazo"] == n(one.tasks_total, "pt-BR")
    assert one.tasks_total < everyone.activities.tasks_total
    assert list(frame_with(app, "tasks_completed")["seller"]) == [busiest.name]
    assert "Atividade por vendedor" in [s.value for s in app.subheader]

    app.sidebar.selectbox(key=filters.K_LANG).set_value("en").run()
    no_exception(app)
    assert app.title[0].value == "Activities"
    assert "Activity per seller" in [s.value for s in app.subheader]
    assert metrics(app)["Tasks due"] == n(one.tasks_total)  # words change, numbers do not
    assert app.query_params["user"] == str(uid)


# -- 4 Sales ------------------------------------------------------------------------------------


def test_sales_page_shows_the_report_and_drills_into_the_deals(
    make_app: MakeApp, synced_url: str
) -> None:
    app = make_app(synced_url, SALES, lang="en", **OCTOBER).run()  # vs the previous period
    no_exception(app)
    report = report_for(synced_url)
    sales = report.sales
    assert app.title[0].value == "Sales"
    won = next(m for m in app.metric if m.label == "Deals won")
    assert won.value == n(sales.won) != "0"
    assert won.delta  # a change against the previous period
    shown = metrics(app)
    assert shown["Deals lost"] == n(sales.lost)
    # Compact on the card, to the cent in its tooltip.
    assert shown["Revenue"] == i18n.compact_money(sales.revenue, "BRL", "en")
    exact = i18n.money(round(sales.revenue, 2), "BRL", "en")
    assert f"Exact figure: {exact}" in next(m.help for m in app.metric if m.label == "Revenue")
    assert shown["Sales cycle (median)"] == f"{n(round(sales.sales_cycle_median_days, 1))} days"
    assert [s.value for s in app.subheader] == [
        "Won, lost and revenue over time",
        "Win rate per seller",
        "Loss reasons (Pareto)",
        "Sales cycle distribution",
        "Sales per seller",
    ]
    reasons = frame_with(app, "cumulative")
    assert len(reasons) == len(sales.loss_reasons)
    assert "Not specified" in set(reasons["reason"])
    # The drill-downs read nothing until switched on; then they open on their first row: the
    # most frequent loss reason, the top seller.
    assert not [d for d in app.dataframe if "lead" in d.value.columns]
    for toggle in app.toggle:
        toggle.set_value(True)
    app.run()
    first_reason, top_seller = sales.loss_reasons[0], report.sellers[0]
    lead_lists = [d.value for d in app.dataframe if "lead" in d.value.columns]
    assert [len(f) for f in lead_lists] == [
        first_reason.count,
        top_seller.won + top_seller.lost,
    ]
    assert set(lead_lists[1]["seller"]) == {top_seller.name}
    table = frame_with(app, "avg_ticket").set_index("seller")
    assert table.loc[top_seller.name, "won"] == n(top_seller.won)


def test_sales_follow_the_channel_filter_and_the_language(
    make_app: MakeApp, synced_url: str
) -> None:
    everyone = report_for(synced_url).sales
    paid = report_for(synced_url, channels=("paid",)).sales
    assert paid.won != everyone.won
    app = make_app(synced_url, SALES, lang="pt-BR", compare="none", channel="paid", **OCTOBER)
    app.run()
    no_exception(app)
    assert app.title[0].value == "Vendas"
    shown = metrics(app)
    assert shown["Vendas ganhas"] == n(paid.won, "pt-BR")
    assert shown["Taxa de ganho"] == f"{n(round(paid.win_rate_pct, 1), 'pt-BR')} %"
    assert "Motivos de perda (Pareto)" in [s.value for s in app.subheader]


def test_a_period_without_deals_says_so(make_app: MakeApp, synced_url: str) -> None:
    app = make_app(synced_url, SALES, lang="en", compare="none", period="custom",
                   **{"from": "2020-01-01", "to": "2020-01-31"})  # fmt: skip
    app.run()
    no_exception(app)
    assert metrics(app)["Win rate"] == "—"
    assert "No deal closed in the period." in [i.value for i in app.info]
    assert "No deal lost in the period." in [i.value for i in app.info]
    assert not app.dataframe


# -- no data --------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [ACTIVITIES, SALES])
@pytest.mark.parametrize("which", ["missing", "empty"])
def test_without_a_model_the_pages_say_how_to_get_data(
    make_app: MakeApp, page: str, which: str, missing_url: str, empty_url: str
) -> None:
    url = missing_url if which == "missing" else empty_url
    app = make_app(url, page, lang="en").run()
    no_exception(app)
    assert not app.dataframe and not app.metric
    (message,) = [i.value for i in app.info if "sync" in i.value]
    assert (
        message.endswith("Start a sync on the Data health page.")
        and "kommo-analytics" not in message
    )


def test_a_task_type_the_account_did_not_name_is_named_by_its_id() -> None:
    from kommo_analytics.dashboard.app_pages.activities import task_type

    # `/account` answered without `task_types`: the model keeps no name, the page gives one.
    assert task_type("other", None, "en", 7) == "Task type 7"
    assert task_type("other", None, "pt-BR", 7) == "Tipo de tarefa 7"
    assert task_type("other", "Visit", "es", 7) == "Visit"
    assert task_type("follow_up", None, "en", 1) == i18n.t("activities.kind.follow_up", "en")
