"""Bodies shaped like real Kommo/amoCRM accounts' answers (not the emulator's): each is read."""

from __future__ import annotations

import asyncio
import json

import httpx

from kommo_analytics.kommo.entities import LEADS
from kommo_analytics.sync import records
from tests.kommo.test_client import Scripted, client_for


def test_custom_field_enums_keyed_by_index_read_like_a_list() -> None:
    field = {"id": 612001, "name": "Product", "type": "select", "sort": 5,
             "enums": {"1": {"id": 902, "value": "Basic", "sort": 2},
                       "0": {"id": 901, "value": "Premium", "sort": 1}}}  # fmt: skip
    listed = {**field, "enums": [field["enums"]["0"], field["enums"]["1"]]}  # type: ignore[index]
    assert records.custom_field_row(field)["enums"] == records.custom_field_row(listed)["enums"]
    assert [e["id"] for e in json.loads(records.custom_field_row(field)["enums"])] == [901, 902]


def test_users_with_extra_rights_keys_are_read() -> None:
    user = {
        "id": 8000001, "name": "Ana", "email": "ana@example.com", "lang": "pt",
        "rights": {
            "leads": {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"},
            "mail_access": True, "catalog_access": True, "files_access": True,
            "status_rights": [{"entity_type": "leads", "pipeline_id": 7100001,
                               "status_id": 61000001, "rights": {"view": "A"}}],
            "catalog_rights": None, "oper_day_reports_view_access": False,
            "oper_day_user_tracking": False,
            "is_admin": True, "is_free": False, "is_active": True, "group_id": None,
            "role_id": None,
        },
        "_links": {"self": {"href": "https://example.kommo.com/api/v4/users/8000001?with=role"}},
    }  # fmt: skip
    row = records.user_row(user)
    assert (row["id"], row["is_admin"], row["is_active"], row["group_id"]) == (
        8000001,
        True,
        True,
        None,
    )


def test_labor_cost_null_and_links_with_a_query_string_are_fine() -> None:
    lead = {"id": 30011001, "price": 0, "labor_cost": None, "created_at": 1_700_000_000,
            "_links": {"self": {"href": "https://example.kommo.com/api/v4/leads/30011001?page=2"}}}  # fmt: skip
    row, _ = records.lead_rows(lead)
    assert (row["id"], row["labor_cost"], row["price"]) == (30011001, None, 0)


def test_call_notes_with_a_phone_as_source_and_no_link() -> None:
    note = {"id": 91, "entity_id": 30011001, "note_type": "call_in", "created_at": 1_700_000_000,
            "params": {"uniq": "a1b2", "duration": 0, "source": "+55 11 99999-0000",
                       "link": None, "phone": "+5511999990000"}}  # fmt: skip
    row = records.call_note_row(note, "leads")
    assert (row["source"], row["duration"], row["call_status"]) == ("+55 11 99999-0000", 0, None)


def test_service_message_and_amomail_notes_are_read_without_call_fields() -> None:
    service = {"id": 92, "entity_id": 1, "note_type": "service_message",
               "params": {"service": "WhatsApp bot", "text": "Lead qualified"}}  # fmt: skip
    mail = {"id": 93, "entity_id": 1, "note_type": "amomail_message", "params": []}
    for note in (service, mail):
        row = records.call_note_row(note, "leads")
        assert row["note_type"] == note["note_type"] and row["duration"] is None


def test_lead_added_events_keep_the_note_in_value_after() -> None:
    event = {"id": "01pz58t6p04ymgsgfbmfyfy1mf", "type": "lead_added", "entity_id": 30011001,
             "entity_type": "lead", "created_by": 0, "created_at": 1_700_000_000,
             "value_after": [{"note": {"id": 42}}], "value_before": [], "account_id": 31000001,
             "_links": {"self": {"href": "https://example.kommo.com/api/v4/events/01pz58t6p04ymgsgfbmfyfy1mf?x=1"}}}  # fmt: skip
    row = records.event_row(event)
    assert json.loads(row["value_after"]) == [{"note": {"id": 42}}]
    assert (row["id"], row["entity_type"], row["created_by"]) == (event["id"], "lead", 0)


def test_a_page_without_page_number_and_with_query_string_links_is_read() -> None:
    body = {
        "_links": {
            "self": {"href": "https://example.kommo.com/api/v4/leads?page=1&limit=250&with=contacts"},
            "next": {"href": "https://example.kommo.com/api/v4/leads?page=2&limit=250&with=contacts"},
        },
        "_embedded": {"leads": [{"id": 1, "created_at": 1_700_000_000}]},
    }  # fmt: skip
    transport = Scripted(httpx.Response(200, json=body))

    async def read() -> tuple[list[dict[str, object]], bool]:
        async with client_for(transport=transport) as client:
            page = await client.get_page(LEADS, {}, 1)
            return page.items, page.has_next

    items, has_next = asyncio.run(read())
    assert [i["id"] for i in items] == [1] and has_next
