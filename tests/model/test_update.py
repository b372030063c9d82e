"""Updating the model for touched keys, on a tiny hand-built DuckDB warehouse.

The account: one pipeline (stages 101, 102, won, lost), three leads. Leads 1 and 2 share
contact 50, lead 3 (trashed, no creation time of its own) has contact 60. A call on contact 50
names call note 900 (a contacts note), a call on lead 2 names note 901 (a leads note); task 300
(lead 1) has a completion event, tasks 301 and 302 belong to leads 2 and 3.

What the update reaches from each kind of key is checked against that picture; the update after
changes is checked against a full rebuild of the same raw rows. The three-backend equality after
a real sync is tests/sync/test_sync_incremental.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pydantic import SecretStr

from kommo_analytics.model import update
from kommo_analytics.model.build import build_model
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.model.store import read_raw, rebuild
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import journal, reader
from kommo_analytics.warehouse.backends import DuckDBBackend, backend_for
from kommo_analytics.warehouse.tables import TABLES, T
from kommo_analytics.warehouse.target import Target, parse_database_url
from tests.sync.harness import model_tables

_SQL_TYPES = {
    T.BIGINT: "BIGINT",
    T.TEXT: "TEXT",
    T.BOOL: "BOOLEAN",
    T.TIMESTAMP: "TIMESTAMPTZ",
    T.DOUBLE: "DOUBLE",
}
DAY = datetime(2026, 9, 1, 12, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY + pd.Timedelta(hours=hours)


def insert(cur: Any, target: Target, table: str, **row: Any) -> None:
    names = list(row)
    marks = ", ".join("?" * len(names))
    cur.execute(
        f"INSERT INTO {target.qualified(table)} ({', '.join(names)}) VALUES ({marks})",
        list(row.values()),
    )


def call(event_id: str, kind: str, entity_type: str, entity_id: int, note: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "created_by": 7,
        "created_at": at(2),
        "value_after": f'[{{"note":{{"id":{note}}}}}]',
    }


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[tuple[Settings, Target]]:
    """The raw tables only: what the update reaches does not depend on the model."""
    url = f"duckdb:///{tmp_path / 'warehouse' / 'kommo.duckdb'}"
    target = parse_database_url(url)
    assert target.sync_path is not None
    target.sync_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(target.sync_path))
    con.execute(f"CREATE SCHEMA {target.dataset}")
    for table in TABLES.values():
        columns = ", ".join(f"{c.name} {_SQL_TYPES[c.type]}" for c in table.columns)
        con.execute(f"CREATE TABLE {target.qualified(table.name)} ({columns})")
    rows: dict[str, list[dict[str, Any]]] = {
        "account": [{"id": 1, "name": "Demo", "timezone": "America/Sao_Paulo"}],
        "users": [{"id": 7, "name": "Ana"}],
        "pipelines": [{"id": 10, "name": "Sales", "sort": 1}],
        "statuses": [
            {"pipeline_id": 10, "id": 101, "name": "New", "sort": 10},
            {"pipeline_id": 10, "id": 102, "name": "Talk", "sort": 20},
            {"pipeline_id": 10, "id": 142, "name": "Won", "sort": 30},
            {"pipeline_id": 10, "id": 143, "name": "Lost", "sort": 40},
        ],
        "loss_reasons": [{"id": 5, "name": "Price"}],
        "task_types": [{"id": 1, "name": "Follow-up"}],
        "leads": [
            {
                "id": 1,
                "pipeline_id": 10,
                "status_id": 102,
                "created_at": at(0),
                "updated_at": at(1),
                "is_deleted": False,
            },
            {
                "id": 2,
                "pipeline_id": 10,
                "status_id": 101,
                "created_at": at(0),
                "updated_at": at(0),
                "is_deleted": False,
            },
            {
                "id": 3,
                "pipeline_id": 10,
                "status_id": 101,
                "created_at": None,
                "updated_at": None,
                "is_deleted": True,
            },
        ],
        "lead_contacts": [
            {"lead_id": 1, "contact_id": 50},
            {"lead_id": 2, "contact_id": 50},
            {"lead_id": 3, "contact_id": 60},
        ],
        "lead_tracking": [{"lead_id": 1, "code": "utm_source", "value": "google"}],
        "events": [
            {
                "id": "e1",
                "type": "lead_status_changed",
                "entity_type": "lead",
                "entity_id": 1,
                "created_by": 7,
                "created_at": at(1),
                "value_before": '[{"lead_status":{"id":101,"pipeline_id":10}}]',
                "value_after": '[{"lead_status":{"id":102,"pipeline_id":10}}]',
            },
            call("e2", "outgoing_call", "contact", 50, 900),
            call("e3", "incoming_call", "lead", 2, 901),
            {
                "id": "e4",
                "type": "task_completed",
                "entity_type": "task",
                "entity_id": 300,
                "created_by": 7,
                "created_at": at(3),
            },
            {
                "id": "e5",
                "type": "lead_added",
                "entity_type": "lead",
                "entity_id": 3,
                "created_by": 7,
                "created_at": at(-5),
            },
        ],
        "tasks": [
            {
                "id": 300,
                "entity_type": "leads",
                "entity_id": 1,
                "task_type_id": 1,
                "is_completed": True,
                "created_at": at(0),
                "updated_at": at(4),
                "complete_till": at(5),
            },
            {
                "id": 301,
                "entity_type": "leads",
                "entity_id": 2,
                "task_type_id": 1,
                "is_completed": False,
                "created_at": at(0),
                "updated_at": at(0),
                "complete_till": at(5),
            },
            {
                "id": 302,
                "entity_type": "leads",
                "entity_id": 3,
                "task_type_id": 1,
                "is_completed": False,
                "created_at": at(0),
                "updated_at": at(0),
                "complete_till": at(5),
            },
        ],
        "call_notes": [
            {"entity_type": "contacts", "id": 900, "entity_id": 50, "duration": 60},
            {"entity_type": "leads", "id": 901, "entity_id": 2, "duration": 30},
        ],
    }
    for table, table_rows in rows.items():
        for row in table_rows:
            insert(con, target, table, **row)
    con.close()
    settings = Settings(
        kommo_base_url="http://kommo.test",
        kommo_access_token=SecretStr("unused"),
        data_dir=tmp_path / "data",
        database_url=url,
    )
    yield settings, target


@pytest.fixture
def built(raw: tuple[Settings, Target]) -> tuple[Settings, Target]:
    rebuild(*raw)
    return raw


def affected(target: Target, touched: dict[str, set[tuple[Any, ...]]]) -> update.Affected:
    with reader.connect(target, write=True) as con:
        return update.affected(con, target, touched)


def test_a_call_on_a_shared_contact_reaches_both_of_its_leads(
    raw: tuple[Settings, Target],
) -> None:
    found = affected(raw[1], {"events": {("e2",)}})
    assert (found.leads, found.contacts, found.tasks) == ({1, 2}, {50}, set())


def test_a_call_note_reaches_the_entity_it_sits_on(raw: tuple[Settings, Target]) -> None:
    target = raw[1]
    on_contact = affected(target, {"call_notes": {("contacts", 900)}})
    assert (on_contact.leads, on_contact.contacts) == (set(), {50})
    # Note numbers are per entity type: ("leads", 900) is no note here.
    assert affected(target, {"call_notes": {("leads", 900)}}).leads == set()
    assert affected(target, {"call_notes": {("leads", 901)}}).leads == {2}


def test_tasks_and_their_completions_reach_their_leads(raw: tuple[Settings, Target]) -> None:
    target = raw[1]
    by_row = affected(target, {"tasks": {(302,)}})
    assert (by_row.leads, by_row.tasks) == ({3}, {302})
    by_event = affected(target, {"events": {("e4",)}})
    assert (by_event.leads, by_event.tasks) == ({1}, {300})


def test_lead_keyed_rows_name_their_leads(raw: tuple[Settings, Target]) -> None:
    touched = {
        "leads": {(1,)},
        "lead_contacts": {(2,)},
        "lead_tracking": {(1,)},
        "lead_deletions": {(3,)},
    }
    assert affected(raw[1], touched).leads == {1, 2, 3}


def test_the_update_equals_a_rebuild(built: tuple[Settings, Target]) -> None:
    settings, target = built
    assert target.sync_path is not None
    con = duckdb.connect(str(target.sync_path))
    q = target.qualified
    # Lead 2 moves to stage 102; lead 1 goes to the trash (its task and call follow);
    # contact 60 gets a chat message (lead 3's first response); note 900 was 60 s, is 120 s.
    con.execute(f"UPDATE {q('leads')} SET status_id = 102, updated_at = ? WHERE id = 2", [at(6)])
    insert(con, target, "events", id="e6", type="lead_status_changed", entity_type="lead",
           entity_id=2, created_by=7, created_at=at(6),
           value_before='[{"lead_status":{"id":101,"pipeline_id":10}}]',
           value_after='[{"lead_status":{"id":102,"pipeline_id":10}}]')  # fmt: skip
    con.execute(f"UPDATE {q('leads')} SET is_deleted = TRUE WHERE id = 1")
    insert(con, target, "lead_deletions", lead_id=1, is_deleted=True, changed_at=at(7))
    insert(con, target, "events", id="e7", type="outgoing_chat_message", entity_type="contact",
           entity_id=60, created_by=7, created_at=at(8))  # fmt: skip
    con.execute(f"UPDATE {q('call_notes')} SET duration = 120 WHERE id = 900")
    con.close()
    touched = {
        "leads": {(2,), (1,)},
        "events": {("e6",), ("e7",)},
        "lead_deletions": {(1,)},
        "call_notes": {("contacts", 900)},
    }
    line = update.update_model(settings, target, set(touched), touched, max_share=1.0)
    assert line == (
        "analytics model updated: 3 leads, 5 stage stays, 3 tasks, 3 calls and messages"
    )
    updated = model_tables(target)
    # What changed, as the update wrote it.
    leads = updated["fact_leads"].set_index("lead_id")
    assert leads.loc[2, "status_id"] == 102 and bool(leads.loc[1, "is_deleted"])
    assert leads.loc[3, "first_response_at"] == pd.Timestamp(at(8)).tz_localize(None)
    tasks = updated["fact_tasks"].set_index("task_id")
    assert bool(tasks.loc[300, "lead_deleted"]) and not bool(tasks.loc[301, "lead_deleted"])
    calls = updated["fact_activities"].set_index("event_id")
    assert calls.loc["e2", "call_seconds"] == 120
    # A full build of the same raw rows, in memory (a second rebuild would write it first).
    with reader.connect(target, write=True) as con:
        full = build_model(read_raw(con, target), ChannelRules.load(None), built_at=DAY)
    for name, frame in updated.items():
        if name == "model_info":
            continue  # its build items are the store's, not the build's
        expected = full[name].sort_values(list(frame.columns[:1])).reset_index(drop=True)
        if name == "fact_stage_stays":
            expected = full[name].sort_values(["lead_id", "seq"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(plain(frame), plain(expected), check_dtype=False, obj=name)
    built_items = set(full["model_info"]["item"]) - {"built_at"}
    assert set(updated["model_info"]["item"]) == built_items | {"rules_hash", "timezone_override"}


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing text as None whichever way it was read (the database gives None, a build NaN)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def test_what_only_a_rebuild_gets_right(built: tuple[Settings, Target]) -> None:
    settings, target = built
    touched = {"leads": {(2,)}}
    # A changed dictionary (stage order, names) reaches every row.
    assert update.update_model(settings, target, {"statuses"}, touched, max_share=1.0) is None
    # So does another timezone setting than the model was built with.
    other = settings.model_copy(update={"account_timezone": "Europe/Lisbon"})
    assert update.update_model(other, target, {"leads"}, touched, max_share=1.0) is None
    # One lead of three is more than a fifth of the account: a rebuild is as fast.
    assert update.update_model(settings, target, {"leads"}, touched) is None
    assert update.update_model(settings, target, {"leads"}, touched, max_share=1.0)


def test_a_published_update_copies_only_the_rows_it_rewrote(
    built: tuple[Settings, Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DuckDB the update journals the fact rows it rewrote by key, so the publish brings the
    served file up to date from those rows instead of copying whole tables."""
    settings, target = built
    backend = backend_for(target)
    assert isinstance(backend, DuckDBBackend)
    monkeypatch.setattr(journal, "APPLY_MIN_BYTES", 0)  # a tiny file: apply it all the same
    backend.publish()
    backend.publish()  # both served files now hold the built model
    assert target.sync_path is not None
    with reader.connect(target, write=True) as con:
        (before,) = con.execute(
            f"SELECT coalesce(max(id), 0) FROM {journal.SCHEMA}.journal"
        ).fetchone()
        # As a sync's load would (journaled: the private file says what changed).
        con.execute(f"UPDATE {target.qualified('leads')} SET status_id = 102 WHERE id = 2")
    touched = {"leads": {(2,)}}
    assert update.update_model(settings, target, set(touched), touched, max_share=1.0)
    with duckdb.connect(str(target.sync_path), read_only=True) as con:
        entries = con.execute(
            f"SELECT tbl, keys FROM {journal.SCHEMA}.journal WHERE id > ?",
            [before],
        ).fetchall()
    keyed = {table: columns for table, columns in entries if table.startswith("kommo_model.fact")}
    assert keyed == {
        "kommo_model.fact_leads": "lead_id",
        "kommo_model.fact_stage_stays": "lead_id",
        "kommo_model.fact_tasks": "task_id",
        "kommo_model.fact_activities": "event_id",
    }
    backend.publish()
    assert backend.last_publish == "applied"
    private = model_tables(target)
    with reader.connect(target) as con:
        leads = backend.fetch_frame(
            con,
            f"SELECT lead_id, status_id FROM {model_qualified(target, 'fact_leads')} "
            "ORDER BY lead_id",
            ["lead_id", "status_id"],
        )
    expected = private["fact_leads"][["lead_id", "status_id"]]
    pd.testing.assert_frame_equal(leads, expected, check_dtype=False)
    assert leads.set_index("lead_id").loc[2, "status_id"] == 102
