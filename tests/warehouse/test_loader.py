"""The loader on each backend: upserts by key, link sets replaced whole, dictionaries replaced,
and readers with the driver's parameter style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url


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


def test_bookkeeping_rows_are_written_by_key_without_a_dlt_run(
    warehouse_url: str, tmp_path: Path, monkeypatch: Any
) -> None:
    """A watermark or a run's row is written after every commit of a sync: by two statements in
    one transaction, not a dlt run (whose fixed cost was most of a small sync's load time)."""
    from datetime import UTC, datetime

    target = parse_database_url(warehouse_url)
    warehouse = Warehouse(target, tmp_path / "data")
    at = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    # The first write creates the table from its declaration (through dlt).
    warehouse.upsert("sync_state", [{"stream": "leads", "watermark": 1, "updated_at": at}])
    runs: list[Any] = []
    real_run = type(warehouse.pipeline).run
    monkeypatch.setattr(
        type(warehouse.pipeline),
        "run",
        lambda self, *a, **k: runs.append(a) or real_run(self, *a, **k),
    )
    later = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC)
    warehouse.upsert(
        "sync_state",
        [
            {"stream": "leads", "watermark": 2, "rows_total": 5, "updated_at": later},
            {"stream": "tasks", "watermark": 7, "rows_total": None, "updated_at": later},
        ],
    )
    assert runs == []
    assert warehouse.watermarks() == {"leads": 2, "tasks": 7}
    warehouse.publish()
    rows = reader.query(
        target,
        f"SELECT stream, watermark, rows_total, updated_at FROM {target.qualified('sync_state')} "
        "ORDER BY stream",
    )
    # The time is the instant written, whatever zone the driver hands it back in.
    assert [(s, w, r) for s, w, r, _ in rows] == [("leads", 2, 5), ("tasks", 7, None)]
    stored = rows[0][3]
    as_utc = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
    assert as_utc == later
