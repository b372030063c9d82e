"""Kommo JSON → warehouse rows: the quirks are handled once, here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kommo_analytics.sync import records
from kommo_analytics.sync.engine import windows


def test_utm_values_are_found_by_field_code_whatever_the_field_ids() -> None:
    lead = {
        "id": 1,
        "custom_fields_values": [
            {"field_id": 900, "field_code": "UTM_SOURCE", "field_name": "utm_source",
             "values": [{"value": "google"}]},
            {"field_id": 12, "field_code": "utm_campaign", "field_name": "x",
             "values": [{"value": "black_friday"}]},
            # An account that made a plain text field named like the code: matched by name.
            {"field_id": 13, "field_code": None, "field_name": "UTM_MEDIUM",
             "values": [{"value": "cpc"}]},
            {"field_id": 14, "field_code": None, "field_name": "Produto",
             "values": [{"value": "Plano", "enum_id": 5}]},
        ],
    }  # fmt: skip
    row, _ = records.lead_rows(lead)
    assert (row["utm_source"], row["utm_campaign"], row["utm_medium"]) == (
        "google",
        "black_friday",
        "cpc",
    )
    assert row["utm_term"] is None


def test_a_lead_row_keeps_its_json_and_links_its_contacts() -> None:
    lead = {
        "id": 7,
        "price": "1500",
        "created_at": 1_700_000_000,
        "closed_at": None,
        "custom_fields_values": None,
        "_embedded": {
            "tags": [{"id": 1, "name": "vip"}],
            "companies": [{"id": 99}],
            "contacts": [{"id": 5, "is_main": False}, {"id": 6, "is_main": True}],
            "source": {"id": 3, "name": "Site"},
        },
    }
    row, links = records.lead_rows(lead)
    assert row["price"] == 1500  # numbers may come as strings
    assert row["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert row["closed_at"] is None
    assert (row["company_id"], row["main_contact_id"], row["source_name"]) == (99, 6, "Site")
    assert json.loads(row["tags"]) == ["vip"]
    assert json.loads(row["raw"]) == lead
    assert links == [
        {"lead_id": 7, "contact_id": 5, "is_main": False},
        {"lead_id": 7, "contact_id": 6, "is_main": True},
    ]


def test_an_empty_task_result_arrives_as_a_list() -> None:
    assert records.task_row({"id": 1, "result": []})["result_text"] is None
    assert records.task_row({"id": 1, "result": {"text": "ok"}})["result_text"] == "ok"


def test_call_notes_keep_duration_and_status() -> None:
    note = {"id": 4, "entity_id": 8, "note_type": "call_out",
            "params": {"duration": 125, "call_status": 4, "source": "voip"}}  # fmt: skip
    row = records.call_note_row(note, "contacts")
    assert (row["entity_type"], row["duration"], row["call_status"]) == ("contacts", 125, 4)


def test_timestamps_zero_or_garbage_are_null() -> None:
    assert records.ts(0) is None
    assert records.ts("abc") is None
    assert records.ts("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_windows_cover_the_span_without_gaps_or_overlap() -> None:
    spans = windows(0, 1000, 300, history_start=400)
    # Everything before the account existed is one window; then fixed steps.
    assert spans == [(0, 400), (401, 700), (701, 1000)]
    assert windows(500, 499, 10, 0) == []
    assert windows(5, 5, 10, 0) == [(5, 5)]
