"""The Leads explorer a page at a time (AppTest on the synced warehouse): the page's rows only,
page navigation, search by id or name, sort, and the download's rows."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
from streamlit.testing.v1 import AppTest

from kommo_analytics.dashboard import data
from kommo_analytics.service.pages import DEFAULT_PAGE_SIZE, PageRequest
from kommo_analytics.service.scope import Scope
from tests.dashboard.conftest import MakeApp, sql

LEADS = "app_pages/leads.py"
HISTORY = {"period": "custom", "from": "2020-01-01", "to": "2026-12-31", "lang": "en"}
KEY = "leads.table"


def ids(app: AppTest) -> list[int]:
    return [int(i) for i in app.dataframe[0].value["id"]]


def position(app: AppTest) -> str:
    (line,) = [c.value for c in app.caption if c.value.startswith("Rows ")]
    return str(line)


def test_the_explorer_reads_one_page_at_a_time(make_app: MakeApp, synced_url: str) -> None:
    ((total,),) = sql(synced_url, "SELECT count(*) FROM {t}leads WHERE NOT is_deleted")
    pages = -(-total // DEFAULT_PAGE_SIZE)
    assert pages > 2
    app = make_app(synced_url, LEADS, **HISTORY).run()
    assert not app.exception
    first = ids(app)
    assert len(first) == DEFAULT_PAGE_SIZE
    assert position(app) == f"Rows 1–50 of {total:,} · page 1 of {pages}"
    table: pd.DataFrame = app.dataframe[0].value
    assert not table["name"].isin(["None", "nan"]).any()  # a missing name is an empty cell

    app.number_input(key=f"{KEY}.page").set_value(2).run()
    second = ids(app)
    assert len(second) == DEFAULT_PAGE_SIZE and not set(first) & set(second)
    assert position(app).startswith(f"Rows 51–100 of {total:,} · page 2 of")

    # Sorting goes back to the first page; by id ascending it starts at the smallest live id.
    app.selectbox(key=f"{KEY}.sort").set_value("id")
    app.selectbox(key=f"{KEY}.order").set_value(False).run()
    ((smallest,),) = sql(synced_url, "SELECT min(id) FROM {t}leads WHERE NOT is_deleted")
    assert ids(app)[0] == smallest and ids(app) == sorted(ids(app))
    assert position(app).startswith("Rows 1–50 ")

    # A search by id finds that lead; a search matching nothing says so.
    app.text_input(key=f"{KEY}.search").input(str(second[0])).run()
    assert second[0] in ids(app)
    (count,) = [m.value for m in app.markdown if re.search(r"\d+\s+leads?\*\*$", m.value)]
    assert int(re.sub(r"\D", "", count)) == len(ids(app))
    app.text_input(key=f"{KEY}.search").input("no such lead, surely").run()
    assert not app.dataframe
    assert [i.value for i in app.info] == ["No lead of the period matches the search."]

    # The download holds every lead the filters match (not only the page), in the table's order.
    scope = Scope(start=date(2020, 1, 1), end=date(2026, 12, 31))
    rows = data.leads_rows(synced_url, scope, "America/Sao_Paulo", PageRequest(sort="id"))
    assert len(rows) == total and list(rows["id"][:3]) == sorted(rows["id"], reverse=True)[:3]
