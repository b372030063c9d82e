"""Kommo JSON → warehouse rows: the quirks are handled once, here."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from kommo_analytics.errors import DataDriftError, FatalApiError
from kommo_analytics.sync import records
from kommo_analytics.sync.engine import WindowPlanner, where


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


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> None:
    """Adjacent, ascending, inclusive windows covering exactly start..end."""
    assert spans[0][0] == start and spans[-1][1] == end
    for (_, hi), (lo, _) in itertools.pairwise(spans):
        assert lo == hi + 1
    assert all(lo <= hi for lo, hi in spans)


def test_planned_windows_cover_the_span_and_follow_the_density() -> None:
    planner = WindowPlanner(
        0, 100_000, target_rows=100, first_seconds=1000, history_start=4000, min_seconds=10
    )
    assert planner.next() == 0
    # Everything before the account existed shares the first window.
    assert planner.spans[0] == (0, 4999) and not planner.informed
    planner.observed(0, 10)  # 10 rows in the 1,000 s since the account's start: 0.01/s
    assert planner.expected_rows(0) == pytest.approx(10)
    planner.next()
    assert planner.spans[1] == (5000, 14_999)  # 100 rows at 0.01/s
    planner.observed(1, 300)  # denser than thought: the average moves halfway
    planner.next()
    assert planner.spans[2] == (15_000, 15_000 + 5000 - 1)  # 0.02/s → 5,000 s
    planner.observed(2, 0)
    planner.observed(2, 0)  # nothing found twice: the density falls, windows grow
    while not planner.done:
        planner.observed(planner.next(), 0)
    _covered(planner.spans, 0, 100_000)
    # Over an empty stretch windows grow fourfold each time, so few requests are spent on it.
    assert len(planner.spans) < 10
    assert planner.remaining() == 0


def test_planned_windows_of_a_short_or_empty_span() -> None:
    one = WindowPlanner(500, 510, target_rows=10, first_seconds=1000, history_start=0)
    one.next()
    assert one.spans == [(500, 510)] and one.done
    assert WindowPlanner(500, 499, target_rows=10, first_seconds=10, history_start=0).done


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


def _tracking_lead(*fields: dict[str, object]) -> dict[str, object]:
    return {"id": 42, "custom_fields_values": list(fields)}


def _field(
    code: str | None, value: str, *, name: str | None = None, type_: str = "tracking_data"
) -> dict[str, object]:
    return {
        "field_id": 500_100,
        "field_code": code,
        "field_name": name if name is not None else (code or "").lower(),
        "field_type": type_,
        "values": [{"value": value}],
    }


def test_every_tracking_field_is_kept_with_its_code_name_and_value() -> None:
    lead = _tracking_lead(
        _field("UTM_SOURCE", "google"),
        _field("YCLID", "7263"),
        _field("GCLIENTID", "1.2"),
        _field("_YM_UID", "1699"),
        _field("OPENSTAT_SERVICE", "direct"),
        _field("SOURCE_DOMAIN", "blog.example.com", name="Source domain"),  # account-specific
        _field(None, "Plano", name="Produto", type_="select"),  # not tracking: left out
    )
    rows = records.lead_tracking_rows(lead)
    assert {r["code"]: r["value"] for r in rows} == {
        "UTM_SOURCE": "google",
        "YCLID": "7263",
        "GCLIENTID": "1.2",
        "_YM_UID": "1699",
        "OPENSTAT_SERVICE": "direct",
        "SOURCE_DOMAIN": "blog.example.com",
    }
    domain = next(r for r in rows if r["code"] == "SOURCE_DOMAIN")
    assert (domain["lead_id"], domain["name"], domain["field_type"]) == (
        42,
        "Source domain",
        "tracking_data",
    )
    assert domain["field_id"] == 500_100


def test_plain_text_fields_named_like_a_known_code_count_as_tracking() -> None:
    lead = _tracking_lead(
        _field(None, "https://x.example/", name=" utm_referrer ", type_="text"),
        _field(None, "Ana", name="Vendedora", type_="text"),  # not a known code
        _field(None, "abc", name="yclid", type_="text"),
    )
    rows = records.lead_tracking_rows(lead)
    assert sorted(r["code"] for r in rows) == ["UTM_REFERRER", "YCLID"]


def test_the_field_code_wins_over_a_text_field_named_like_it() -> None:
    lead = _tracking_lead(
        _field(None, "by-name", name="UTM_SOURCE", type_="text"),
        _field("UTM_SOURCE", "by-code"),
    )
    rows = records.lead_tracking_rows(lead)
    assert [(r["code"], r["value"]) for r in rows] == [("UTM_SOURCE", "by-code")]
    row, _ = records.lead_rows(lead)
    assert row["utm_source"] == "by-code"


def test_utm_referrer_fills_the_referrer_column_and_referrer_wins_when_both_exist() -> None:
    only = _tracking_lead(_field("UTM_REFERRER", "https://blog.example.com/post"))
    row, _ = records.lead_rows(only)
    assert row["referrer"] == "https://blog.example.com/post"
    both = _tracking_lead(
        _field("UTM_REFERRER", "https://utm.example.com"),
        _field("REFERRER", "https://page.example.com"),
    )
    row, _ = records.lead_rows(both)
    assert row["referrer"] == "https://page.example.com"
    # Both stay in lead_tracking, so nothing is lost by the choice.
    assert {r["code"] for r in records.lead_tracking_rows(both)} == {"UTM_REFERRER", "REFERRER"}


def test_a_lead_without_tracking_fields_has_no_tracking_rows() -> None:
    assert records.lead_tracking_rows({"id": 1, "custom_fields_values": None}) == []
    assert records.lead_tracking_rows({"id": 1}) == []


def test_the_leads_stream_loads_the_tracking_rows_replaced_per_lead() -> None:
    from kommo_analytics.sync.streams import STREAMS
    from kommo_analytics.warehouse.tables import TABLES

    leads = next(s for s in STREAMS if s.name == "leads")
    rows = leads.to_rows(_tracking_lead(_field("FROM", "instagram")))
    assert [(r["lead_id"], r["code"], r["value"]) for r in rows["lead_tracking"]] == [
        (42, "FROM", "instagram")
    ]
    table = TABLES["lead_tracking"]
    assert set(rows["lead_tracking"][0]) == set(table.column_names)
    assert table.primary_key == ("lead_id", "code")
    assert table.merge_key == ("lead_id",)  # a lead's set is replaced whole, like its contacts


def test_other_custom_fields_with_object_values_are_not_drift() -> None:
    # Real accounts have file, legal-entity and linked-entity fields whose values are objects;
    # they are kept in `raw` and are no reason to refuse the lead.
    fields = [
        {"field_id": 1, "field_name": "Contrato", "field_code": None, "field_type": "file",
         "values": [{"value": {"file_uuid": "abc", "file_name": "contrato.pdf"}}]},
        {"field_id": 2, "field_name": "utm_source", "field_code": "UTM_SOURCE",
         "field_type": "tracking_data", "values": [{"value": "google"}]},
    ]  # fmt: skip
    row, _ = records.lead_rows({**LEAD, "custom_fields_values": fields})
    assert row["utm_source"] == "google"
    assert [
        t["code"] for t in records.lead_tracking_rows({**LEAD, "custom_fields_values": fields})
    ] == ["UTM_SOURCE"]
