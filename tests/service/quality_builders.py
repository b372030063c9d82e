"""A hand-built warehouse holding one of each data-quality defect (any backend), for the
checks' tests. Every number the tests expect is explained next to the rows that make it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.tables import TABLES
from kommo_analytics.warehouse.target import parse_database_url

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 1, 12, 0)  # naive UTC, as the model stores instants


def _lead(lead_id: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "lead_id": lead_id, "name": f"Lead {lead_id}", "pipeline_id": 10, "status_id": 101,
        "outcome": "open", "responsible_user_id": 1, "price": None, "loss_reason_id": None,
        "tracking_fields": 1, "tag_count": 0, "tags": "[]", "channel": "other",
        "created_at": T0, "created_local": T0, "closed_at": None, "cycle_days": None,
        "response_hours": None, "is_deleted": False,
    }  # fmt: skip
    row.update(values)
    return row


WON = {"status_id": 142, "outcome": "won"}
LOST = {"status_id": 143, "outcome": "lost"}
CLOSED = T0 + timedelta(days=2)

# One defect per lead (L1 is clean); L9 is in the trash and so out of every other rule.
LEADS = [
    _lead(1, **WON, price=100.0, closed_at=CLOSED, cycle_days=2.0, response_hours=0.5),
    _lead(2, **WON, price=None, closed_at=CLOSED, cycle_days=2.0),  # won without a price
    _lead(3, **LOST, loss_reason_id=None, closed_at=CLOSED, cycle_days=2.0),  # no loss reason
    _lead(4, tracking_fields=0, tag_count=0),  # unattributable; its moves: skip, back, -1 h
    _lead(5, responsible_user_id=99),  # unknown user
    _lead(6, pipeline_id=77),  # unknown pipeline
    _lead(7, status_id=555),  # unknown stage of a known pipeline
    _lead(8, **WON, price=50.0, closed_at=None),  # closed without closed_at
    _lead(9, is_deleted=True),  # deleted
]
USERS = [{"user_id": 1, "name": "Ana"}, {"user_id": 2, "name": "Bruno"}]
PIPELINES = [{"pipeline_id": 10, "name": "Sales"}]
STAGES = [
    {"pipeline_id": 10, "status_id": s, "name": n, "stage_order": o, "outcome": c}
    for s, n, o, c in (
        (101, "New", 1, "open"), (102, "Talk", 2, "open"), (103, "Offer", 3, "open"),
        (142, "Won", None, "won"), (143, "Lost", None, "lost"),
    )
]  # fmt: skip


def _stay(lead: int, seq: int, status: int, hours: float | None, nxt: int | None) -> dict[str, Any]:
    return {
        "lead_id": lead, "seq": seq, "pipeline_id": 10, "status_id": status, "hours": hours,
        "next_pipeline_id": 10 if nxt else None, "next_status_id": nxt, "entered_at": T0,
    }  # fmt: skip


STAYS = [
    # L1 goes 101 → 102 → 103 → won: two open-to-open moves, both one step forward.
    _stay(1, 0, 101, 2.0, 102), _stay(1, 1, 102, 3.0, 103), _stay(1, 2, 103, 1.0, 142),
    # L4 skips 102 (101 → 103), then goes back (103 → 102), and that stay lasted -1 h.
    _stay(4, 0, 101, 5.0, 103), _stay(4, 1, 103, -1.0, 102), _stay(4, 2, 102, None, None),
]  # fmt: skip
TASKS = [
    {"task_id": 1, "entity_type": "leads", "entity_id": 1, "lead_id": 1},
    {"task_id": 2, "entity_type": None, "entity_id": None, "lead_id": None},  # attached to nothing
    {"task_id": 3, "entity_type": "contacts", "entity_id": 500, "lead_id": None},  # fine
]


def _contact_raw(phone: str | None = None, email: str | None = None) -> str:
    fields = []
    if phone:
        fields.append({"field_code": "PHONE", "values": [{"value": phone}]})
    if email:
        fields.append({"field_code": "EMAIL", "values": [{"value": email}]})
    return json.dumps({"custom_fields_values": fields or None})


# C1 and C2 are the same phone written two ways (one duplicate pair: two contacts fail); C3 has
# an e-mail of its own; C4 has neither and is not checked.
CONTACTS = [
    {"id": 11, "name": "C1", "raw": _contact_raw(phone="+55 (11) 98765-4321")},
    {"id": 12, "name": "C2", "raw": _contact_raw(phone="11 98765 4321")},
    {"id": 13, "name": "C3", "raw": _contact_raw(email="Ana@Example.com")},
    {"id": 14, "name": "C4", "raw": _contact_raw()},
]
LEAD_CONTACTS = [
    {"lead_id": 1, "contact_id": 11, "is_main": True},
    {"lead_id": 2, "contact_id": 12, "is_main": True},
]
# tasks was left out of the syncs for three days: one gap; the last run is fine.
WATERMARK = int(NOW.timestamp())
SYNC_STATE = [
    {"stream": "leads", "watermark": WATERMARK, "rows_total": 9},
    {"stream": "contacts", "watermark": WATERMARK - 3600, "rows_total": 4},
    {"stream": "tasks", "watermark": WATERMARK - 3 * 86400, "rows_total": 3},
]
SYNC_RUNS = [
    {"run_id": "r1", "started_at": NOW - timedelta(hours=1), "status": "ok", "mode": "full"}
]

# rule → (checked, failing) for the warehouse above.
EXPECTED = {
    "unknown_pipeline": (8, 1),  # live leads L1–L8; L6
    "unknown_stage": (7, 1),  # live leads of a known pipeline (not L6); L7
    "closed_without_closed_at": (4, 1),  # won or lost: L1, L2, L3, L8; L8
    # stays with an end (3 of L1, 2 of L4), cycles (L1, L2, L3), a response (L1); L4's -1 h
    "negative_duration": (9, 1),
    "unknown_user": (8, 1),  # L5
    "won_without_price": (3, 1),  # L1, L2, L8; L2
    "lost_without_reason": (1, 1),  # L3
    "stage_backwards": (4, 1),  # open-to-open moves: two of L1, two of L4; 103 → 102
    "task_without_lead": (3, 1),  # task 2
    "duplicate_contacts": (3, 2),  # C1–C3 have a phone or e-mail; C1 and C2 share one
    "sync_gaps": (4, 1),  # three streams and the last run; tasks
    "unattributable": (8, 1),  # L4
    "stage_skipped": (4, 1),  # 101 → 103
    "deleted_leads": (9, 1),  # every lead the warehouse holds; L9
}


def _raw_table(con: Any, url: str, name: str, rows: list[dict[str, Any]]) -> None:
    target = parse_database_url(url)
    backend = backend_for(target)
    table = TABLES[name]
    columns = ", ".join(
        f"{backend.quote(c.name)} {backend.type_name(c.type.value)}" for c in table.columns
    )
    backend.cursor(con).execute(f"CREATE TABLE {target.qualified(name)} ({columns})")
    values = [tuple(row.get(c) for c in table.column_names) for row in rows]
    backend.insert_rows(con, target.qualified(name), list(table.column_names), values)


def build(url: str, data_dir: Path, *, leads: list[dict[str, Any]] | None = None) -> None:
    """The warehouse above at ``url`` (raw and model tables), published for readers."""
    target = parse_database_url(url)
    backend = backend_for(target)
    model_store.prepare_writer(target)
    if target.sync_path is not None and not target.sync_path.exists():
        import duckdb  # a new DuckDB warehouse: the sync would create its private file

        duckdb.connect(str(target.sync_path)).close()

    def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame(rows).reindex(columns=list(MODEL_TABLES[table].column_names))

    with reader.connect(target, write=True) as con:
        schema = backend.create_schema_sql(target.dataset)
        if schema is not None:
            backend.cursor(con).execute(schema)
        for name, rows in (
            ("contacts", CONTACTS),
            ("lead_contacts", LEAD_CONTACTS),
            ("sync_state", SYNC_STATE),
            ("sync_runs", SYNC_RUNS),
        ):
            _raw_table(con, url, name, rows)
        backend.commit_ddl(con)
        model_store.ensure_tables(con, target, MODEL_TABLES.values())
        model_store.replace_tables(
            con,
            target,
            {
                "fact_leads": frame("fact_leads", leads if leads is not None else LEADS),
                "dim_users": frame("dim_users", USERS),
                "dim_pipelines": frame("dim_pipelines", PIPELINES),
                "dim_stages": frame("dim_stages", STAGES),
                "fact_stage_stays": frame("fact_stage_stays", STAYS),
                "fact_tasks": frame("fact_tasks", TASKS),
                "model_info": frame(
                    "model_info",
                    [
                        {"item": "subdomain", "value": "acme"},
                        {"item": "timezone", "value": "America/Sao_Paulo"},
                    ],
                ),
            },
        )
    Warehouse(target, data_dir).publish()
