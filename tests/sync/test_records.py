"""Kommo JSON → warehouse rows: the quirks are handled once, here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kommo_analytics.errors import DataDriftError, FatalApiError
from kommo_analytics.sync import records
from kommo_analytics.sync.engine import where, windows


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


def test_timestamps_zero_or_null_are_null_and_garbage_is_drift() -> None:
    assert records.ts(0) is None
    assert records.ts(None) is None
    assert records.ts("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    # A timestamp that is not a number is not "no time": storing NULL would hide it.
    with pytest.raises(DataDriftError, match="`closed_at`"):
        records.ts("abc", "closed_at")


def test_windows_cover_the_span_without_gaps_or_overlap() -> None:
    spans = windows(0, 1000, 300, history_start=400)
    # Everything before the account existed is one window; then fixed steps.
    assert spans == [(0, 400), (401, 700), (701, 1000)]
    assert windows(500, 499, 10, 0) == []
    assert windows(5, 5, 10, 0) == [(5, 5)]


# -- drift: a value that no longer fits its column fails, it is never stored as NULL ------------

LEAD = {
    "id": 30011001,
    "name": "Deal #1",
    "price": 1500,
    "responsible_user_id": 8000001,
    "status_id": 61000001,
    "pipeline_id": 7100001,
    "created_at": 1_700_000_000,
    "updated_at": 1_700_000_100,
    "closed_at": None,
    "loss_reason_id": None,
    "closest_task_at": None,
    "custom_fields_values": None,
    "score": None,
    "labor_cost": None,
    "is_deleted": False,
    "_links": {"self": {"href": "https://example.kommo.com/api/v4/leads/30011001?with=contacts"}},
    "_embedded": {"tags": [], "companies": []},
}


def test_numbers_sent_as_numeric_strings_are_read() -> None:
    row, _ = records.lead_rows({**LEAD, "price": "1500.00", "responsible_user_id": "8000001"})
    assert (row["price"], row["responsible_user_id"]) == (1500, 8000001)
    assert records.lead_rows({**LEAD, "price": 1500.0})[0]["price"] == 1500


def test_nulls_the_api_may_send_stay_null() -> None:
    row, _ = records.lead_rows(LEAD)
    assert row["closed_at"] is None and row["loss_reason_id"] is None
    assert row["labor_cost"] is None and row["score"] is None
    assert row["price"] == 1500 and row["created_at"] is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "n/a"),
        ("price", "12.5"),
        ("responsible_user_id", "someone"),
        ("status_id", {"id": 5}),
        ("created_at", "2026-11-25T10:00:00Z"),
        ("updated_at", True),
    ],
)
def test_an_unparseable_typed_value_is_drift_naming_field_and_value(
    field: str, value: object
) -> None:
    with pytest.raises(DataDriftError) as info:
        records.lead_rows({**LEAD, field: value})
    error = info.value
    assert isinstance(error, FatalApiError)  # no retry can fix it
    assert error.field == field and error.value == value
    assert f"`{field}`" in error.message
    assert "format" in error.hint and "unchanged" in error.hint


def test_the_offending_value_is_shown_truncated() -> None:
    with pytest.raises(DataDriftError) as info:
        records.lead_rows({**LEAD, "price": "x" * 500})
    assert '"xxxx' in info.value.message and len(info.value.message) < 120


@pytest.mark.parametrize(
    "body", [{**LEAD, "id": None}, {k: v for k, v in LEAD.items() if k != "id"}]
)
def test_a_row_without_an_id_is_drift_not_a_type_error(body: dict[str, object]) -> None:
    with pytest.raises(DataDriftError, match="`id`"):
        records.lead_rows(body)
    for parse in (records.contact_row, records.task_row, records.deleted_lead_row):
        with pytest.raises(DataDriftError, match="`id`"):
            parse(body)
    with pytest.raises(DataDriftError, match="`id`"):
        records.event_row({"id": None, "type": "lead_added", "created_at": 1_700_000_000})
    with pytest.raises(DataDriftError, match="`id`"):
        records.call_note_row({"note_type": "call_in", "params": {}}, "leads")


def test_a_drift_error_is_located_by_stream_window_and_page() -> None:
    with pytest.raises(DataDriftError) as info:
        records.lead_rows({**LEAD, "price": "n/a"})
    params = {"filter[updated_at][from]": "1700000000", "filter[updated_at][to]": "1700003600"}
    located = info.value.located(where("leads", params, 3))
    assert located.message.startswith(
        "leads, page 3, updated_at from 2023-11-14 22:13:20 UTC to 2023-11-14 23:13:20 UTC: "
        'field `price` is "n/a"'
    )
    assert located.hint == info.value.hint and located.field == "price"
