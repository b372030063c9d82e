"""Paged reads on every backend: the Leads explorer's page (search, sort, count, the viewer's
reach), the overdue tasks of the period and a drill-down, on a hand-built warehouse of a few
rows (every expected number is explained next to the rows that make it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kommo_analytics.errors import ConfigError
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES
from kommo_analytics.service import leads, pages
from kommo_analytics.service.pages import PageRequest
from kommo_analytics.service.scope import Scope
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url
from tests.service.quality_builders import _raw_table

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 10, 12, 0)  # naive UTC, as the sync and the model store instants
ZONE = "America/Sao_Paulo"
NOVEMBER = Scope(start=date(2026, 11, 1), end=date(2026, 11, 30))


def _lead(i: int, name: str | None, hours: int, user: int, **more: Any) -> dict[str, Any]:
    created = DAY + timedelta(hours=hours)
    return {"id": i, "name": name, "pipeline_id": 10, "status_id": 101, "price": i * 100,
            "responsible_user_id": user, "created_at": created, "is_deleted": False} | more  # fmt: skip


# In November, live: 1–6 (six leads). 7 is deleted, 8 was created in October.
RAW_LEADS = [
    _lead(1, "Acme 50% off", 1, 1),
    _lead(2, "acme_one", 2, 1),
    _lead(3, "ACME two", 3, 2),
    _lead(4, None, 4, 2, price=None),
    _lead(5, "Beta", 5, 1, status_id=142),
    _lead(6, "Gamma 5", 6, 2),
    _lead(7, "Acme deleted", 7, 1, is_deleted=True),
    _lead(8, "Acme old", -24 * 30, 1),
]
RAW_USERS = [{"id": 1, "name": "Ana"}, {"id": 2, "name": "Bruno"}]
RAW_PIPELINES = [{"id": 10, "name": "Sales"}]
RAW_STATUSES = [
    {"pipeline_id": 10, "id": 101, "name": "New"},
    {"pipeline_id": 10, "id": 142, "name": "Won"},
]


def _fact_lead(i: int, user: int, hours: int) -> dict[str, Any]:
    created = DAY + timedelta(hours=hours)
    return {"lead_id": i, "name": f"Lead {i}", "pipeline_id": 10, "status_id": 101,
            "outcome": "open", "responsible_user_id": user, "price": float(i), "channel": "paid",
            "created_at": created, "created_local": created - timedelta(hours=3),
            "is_deleted": False}  # fmt: skip


FACT_LEADS = [_fact_lead(i, 1 if i <= 3 else 2, i) for i in range(1, 6)]


def _task(i: int, due_days: float, *, done: bool = False, user: int = 1) -> dict[str, Any]:
    due = DAY + timedelta(days=due_days)
    return {"task_id": i, "kind": "follow_up", "responsible_user_id": user, "entity_type": "leads",
            "entity_id": 1, "lead_id": 1, "complete_till": due,
            "complete_till_local": due - timedelta(hours=3), "is_completed": done,
            "completed_at": due if done else None, "lead_deleted": False}  # fmt: skip


# Due in November and late at NOW: 1, 2, 3 (3 is Bruno's). 4 is done; 5 is due after NOW;
# 6 was due in October (late, but outside the period).
TASKS = [
    _task(1, 0), _task(2, 1), _task(3, 2, user=2), _task(4, 3, done=True), _task(5, 20),
    _task(6, -30),
]  # fmt: skip


def _build(url: str, data_dir: Path) -> None:
    target = parse_database_url(url)
    backend = backend_for(target)
    model_store.prepare_writer(target)
    if target.sync_path is not None and not target.sync_path.exists():
        import duckdb

        target.sync_path.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(target.sync_path)).close()

    def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame(rows).reindex(columns=list(MODEL_TABLES[table].column_names))

    with reader.connect(target, write=True) as con:
        schema = backend.create_schema_sql(target.dataset)
        if schema is not None:
            backend.cursor(con).execute(schema)
        for name, rows in (
            ("leads", RAW_LEADS),
            ("users", RAW_USERS),
            ("pipelines", RAW_PIPELINES),
            ("statuses", RAW_STATUSES),
        ):
            _raw_table(con, url, name, rows)
        backend.commit_ddl(con)
        model_store.ensure_tables(con, target, MODEL_TABLES.values())
        model_store.replace_tables(
            con,
            target,
            {
                "fact_leads": frame("fact_leads", FACT_LEADS),
                "fact_tasks": frame("fact_tasks", TASKS),
                "dim_users": frame("dim_users", [{"user_id": 1, "name": "Ana"}]),
                "dim_pipelines": frame("dim_pipelines", [{"pipeline_id": 10, "name": "Sales"}]),
                "dim_stages": frame(
                    "dim_stages", [{"pipeline_id": 10, "status_id": 101, "name": "New"}]
                ),
            },
        )
    Warehouse(target, data_dir).publish()


def _ids(page: pages.Page) -> list[int]:
    return [int(i) for i in page.rows["id" if "id" in page.rows else "lead_id"]]


def test_pages_are_searched_sorted_counted_and_cut_in_the_database(
    warehouse_url: str, tmp_path: Path
) -> None:
    _build(warehouse_url, tmp_path / "data")
    target = parse_database_url(warehouse_url)

    def explorer(scope: Scope = NOVEMBER, **request: Any) -> pages.Page:
        return leads.page(target, scope, ZONE, PageRequest(**request))

    # Newest first by default; page 2 of 4 rows holds the last two; the total is of all six.
    first = explorer(size=4)
    assert (first.total, first.pages, first.number, _ids(first)) == (6, 2, 1, [6, 5, 4, 3])
    second = explorer(size=4, number=2)
    assert (_ids(second), second.first_row) == ([2, 1], 5)
    assert _ids(explorer(size=4, number=9)) == [2, 1]  # past the end: the last page
    # Names are joined; a missing name stays missing (the page shows it empty, not "None").
    assert first.rows.set_index("id").loc[4, "user_name"] == "Bruno"
    assert first.rows["name"][first.rows["id"] == 4].isna().all()
    # Search: any case, a part of the name, wildcards taken literally, or the id.
    assert sorted(_ids(explorer(search="acme"))) == [1, 2, 3]
    assert _ids(explorer(search="50%")) == [1]
    assert _ids(explorer(search="e_o")) == [2]
    assert _ids(explorer(search="5")) == [6, 5, 1]  # id 5, and "5" in two names
    assert explorer(search="x'; DROP TABLE leads; --").total == 0
    # Sorts: a whitelisted key; a missing value sorts last both ways.
    assert _ids(explorer(sort="price", descending=False)) == [1, 2, 3, 5, 6, 4]
    assert _ids(explorer(sort="price")) == [6, 5, 3, 2, 1, 4]
    assert _ids(explorer(sort="name", descending=False))[-1] == 4
    with pytest.raises(ConfigError):
        explorer(sort="price; DROP TABLE leads")
    # The viewer's reach narrows the page and its total.
    assert explorer(Scope(NOVEMBER.start, NOVEMBER.end, allowed_sellers=(2,))).total == 3
    # The download: the filtered and searched set in the page's order, capped.
    rows = leads.export_rows(target, NOVEMBER, ZONE, PageRequest(search="acme"), limit=2)
    assert [int(i) for i in rows["id"]] == [3, 2]

    p = MetricParams(start=date(2026, 11, 1), end=date(2026, 11, 30), as_of=NOW, timezone=ZONE)
    late = pages.overdue_page(target, p, PageRequest(size=2))
    # The period applies (not task 6), the most recently due first, two to a page.
    assert (late.total, _task_ids(late), late.counts) == (3, [3, 2], {"off_lead": 0})
    assert _task_ids(pages.overdue_page(target, p, PageRequest(size=2, number=2))) == [1]
    mine = MetricParams(p.start, p.end, p.as_of, timezone=ZONE, sellers=(1,))
    assert pages.overdue_page(target, mine, PageRequest()).total == 2
    oldest = pages.overdue_rows(target, p, PageRequest(descending=False), limit=2)
    assert list(oldest["task_id"].astype(int)) == [1, 2]

    drill = pages.drill_page(target, p, "created", PageRequest(size=2, number=2))
    assert (drill.total, _ids(drill)) == (5, [3, 2])
    by_price = pages.drill_page(target, p, "created", PageRequest(sort="price", descending=False))
    assert _ids(by_price) == [1, 2, 3, 4, 5]
    bruno = pages.drill_page(
        target, p, "created", PageRequest(), where=(("responsible_user_id", 2),)
    )
    assert (bruno.total, _ids(bruno)) == (2, [5, 4])
    # Seller 2 is not in dim_users: the name is missing, not the row.
    assert bruno.rows["seller"].isna().all()
    assert len(pages.drill_rows(target, p, "created", PageRequest(), limit=3)) == 3


def _task_ids(page: pages.Page) -> list[int]:
    return [int(i) for i in page.rows["task_id"]]


def test_a_page_request_is_checked() -> None:
    with pytest.raises(ConfigError):
        PageRequest(size=0)
    with pytest.raises(ConfigError):
        PageRequest(number=0)
    empty = pages.Page(rows=pd.DataFrame(), total=0, number=1, size=50)
    assert (empty.pages, empty.first_row) == (1, 0)
    assert pages.clamp(7, 101, 50) == 3 and pages.clamp(3, 0, 50) == 1
