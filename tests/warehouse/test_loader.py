"""The loader on each backend: upserts by key, link sets replaced whole, dictionaries replaced,
and readers with the driver's parameter style."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import parse_database_url

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 12, 1, tzinfo=UTC)


def _lead(lead_id: int, name: str) -> dict[str, Any]:
    return {"id": lead_id, "name": name, "is_deleted": False}


def test_loads_upsert_by_key_and_replace_link_sets_and_dictionaries(
    warehouse_url: str, tmp_path: Path
) -> None:
    target = parse_database_url(warehouse_url)
    warehouse = Warehouse(target, tmp_path / "data")
    warehouse.load(
        {
            "leads": [_lead(1, "a"), _lead(2, "b")],
            "lead_contacts": [
                {"lead_id": 1, "contact_id": 10, "is_main": True},
                {"lead_id": 1, "contact_id": 11, "is_main": False},
                {"lead_id": 2, "contact_id": 20, "is_main": True},
            ],
            "users": [{"id": 7, "name": "Ana"}, {"id": 8, "name": "Bia"}],
        }
    )
    # Lead 2 changed, lead 3 is new, the same batch carrying lead 3 twice keeps the last copy;
    # lead 1's contacts are now only contact 12; the users list is now only Caio.
    warehouse.load(
        {
            "leads": [_lead(2, "b2"), _lead(3, "c"), _lead(3, "c2")],
            "lead_contacts": [{"lead_id": 1, "contact_id": 12, "is_main": True}],
            "users": [{"id": 9, "name": "Caio"}],
        }
    )
    warehouse.publish()
    leads = reader.query(target, f"SELECT id, name FROM {target.qualified('leads')} ORDER BY id")
    assert leads == [(1, "a"), (2, "b2"), (3, "c2")]
    links = reader.query(
        target,
        f"SELECT lead_id, contact_id FROM {target.qualified('lead_contacts')} "
        "ORDER BY lead_id, contact_id",
    )
    assert links == [(1, 12), (2, 20)]
    users = reader.query(target, f"SELECT id, name FROM {target.qualified('users')}")
    assert users == [(9, "Caio")]
    mark = reader.placeholder(target)
    named = reader.query(
        target, f"SELECT name FROM {target.qualified('leads')} WHERE id = {mark}", [2]
    )
    assert named == [("b2",)]


def test_a_leads_tracking_fields_are_replaced_whole(warehouse_url: str, tmp_path: Path) -> None:
    target = parse_database_url(warehouse_url)
    warehouse = Warehouse(target, tmp_path / "data")

    def field(lead_id: int, code: str, value: str) -> dict[str, Any]:
        return {"lead_id": lead_id, "code": code, "name": code.lower(), "value": value}

    warehouse.load(
        {
            "lead_tracking": [
                field(1, "UTM_SOURCE", "google"),
                field(1, "GCLID", "Cj0"),
                field(2, "YCLID", "7263"),
            ]
        }
    )
    # Lead 1 now carries only an account-specific code: its GCLID and UTM_SOURCE are gone.
    warehouse.load({"lead_tracking": [field(1, "SOURCE_DOMAIN", "blog.example.com")]})
    warehouse.publish()
    rows = reader.query(
        target,
        f"SELECT lead_id, code, value FROM {target.qualified('lead_tracking')} "
        "ORDER BY lead_id, code",
    )
    assert rows == [(1, "SOURCE_DOMAIN", "blog.example.com"), (2, "YCLID", "7263")]


def test_a_load_tells_whether_it_changed_stored_rows(warehouse_url: str, tmp_path: Path) -> None:
    target = parse_database_url(warehouse_url)
    calls: list[str] = []
    first = Warehouse(target, tmp_path / "data")
    lead = {**_lead(1, "a"), "raw": '{"id": 1, "_links": {"self": {"href": "x?page=1"}}}'}
    batch = {
        "leads": [lead, _lead(2, "b")],
        "lead_contacts": [{"lead_id": 1, "contact_id": 10, "is_main": True}],
        "users": [{"id": 7, "name": "Ana"}],
        "lead_deletions": [
            {"lead_id": 2, "is_deleted": True, "changed_at": NOON, "source": "trash"}
        ],
    }
    first.load(batch)
    assert first.changed == {"leads", "lead_contacts", "users", "lead_deletions"}

    # The same rows again (the raw JSON differing only in the request's own link; the same
    # deletion fact reported by the event feed instead of the trash), and the bookkeeping a sync
    # writes every run: nothing changed, and the hook never ran.
    again = Warehouse(target, tmp_path / "data")
    again.before_change = lambda: calls.append("stale")
    same_lead = {**lead, "raw": '{"_links": {"self": {"href": "x?page=2"}}, "id": 1}'}
    same_fact = {**batch["lead_deletions"][0], "source": "lead_deleted"}
    bookkeeping = [{"stream": "leads", "watermark": 5, "rows_total": 2}]
    again.load(
        {
            **batch,
            "leads": [same_lead, _lead(2, "b")],
            "lead_deletions": [same_fact],
            "sync_state": bookkeeping,
        }
    )
    assert again.changed == set() and calls == []
    # The fact at another moment is a change; a lead's deletion flags, which the sync derives
    # from the facts after each load, are not compared.
    assert again._changes(TABLES["lead_deletions"], [{**same_fact, "changed_at": LATER}])
    flagged = {**_lead(2, "b"), "is_deleted": True, "deleted_at": NOON}
    assert not again._changes(TABLES["leads"], [flagged])
    assert again._changes(TABLES["leads"], [{**flagged, "name": "c"}])
    # Bookkeeping into a table dlt made is written without a dlt run (upserted by key).
    again.load({"sync_state": [{**bookkeeping[0], "watermark": 6, "updated_at": NOON}]})
    again.load({"sync_state": [{"stream": "tasks", "watermark": 7, "updated_at": NOON}]})
    assert again.watermarks() == {"leads": 6, "tasks": 7}
    (stamp,) = again.query(
        f"SELECT updated_at FROM {target.qualified('sync_state')} WHERE stream = 'tasks'"
    )[0]
    assert (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)) == NOON

    # A lead's link set losing a contact, a dictionary gaining a row: changed, hook once first.
    again.load(
        {
            "leads": [_lead(2, "b")],
            "lead_contacts": [{"lead_id": 1, "contact_id": 11, "is_main": True}],
            "users": [{"id": 7, "name": "Ana"}, {"id": 8, "name": "Bia"}],
        }
    )
    assert again.changed == {"lead_contacts", "users"} and calls == ["stale"]
    # The keys those loads wrote: a link table's merge key (the lead), a dictionary's ids; the
    # lead load compared equal and touched nothing.
    assert again.touched == {"lead_contacts": {(1,)}, "users": {(7,), (8,)}}
    again.publish()
    users = reader.query(target, f"SELECT id FROM {target.qualified('users')} ORDER BY id")
    assert users == [(7,), (8,)]
