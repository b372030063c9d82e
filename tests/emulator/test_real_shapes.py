"""Conformance of the shapes real Kommo accounts send beyond the basics (docs/emulator.md, "Real
shapes"): notes on `lead_added`, null labor costs, item links carrying the list's query, pages
without `_page`, the full user rights, phone-number call sources, service and e-mail notes, the
account with and without `_embedded`, tracking codes beyond the standard eight, and enums keyed by
index. Served from a generated account, so each shape is checked where the generator puts it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kommo_analytics.emulator.config import EmulatorConfig, Quirks
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.kommo.entities import TRACKING_FIELD_CODES
from tests.emulator.test_wire import API, Api, walk

NOW = 1_795_000_000  # 2026-11-18
EXTRA_CODES = {
    "UTM_REFERRER", "YCLID", "GCLIENTID", "ROISTAT", "_YM_UID", "OPENSTAT_SERVICE",
    "OPENSTAT_CAMPAIGN", "FROM",
}  # fmt: skip


@pytest.fixture(scope="module")
def store() -> AccountStore:
    return build_account(seed=1, scale="small", now=NOW)


@pytest.fixture(scope="module")
def api(store: AccountStore) -> Api:
    return Api(store, now=NOW)


def quirky(store: AccountStore, spec: str) -> Api:
    served = Api(store, now=NOW)
    served.state.config = EmulatorConfig(quirks=Quirks.parse(spec))
    return served


def rows(store: AccountStore, sql: str) -> list[tuple[Any, ...]]:
    return store.cursor().execute(sql).fetchall()


# -- events and notes --------------------------------------------------------------------------


def test_lead_added_points_to_the_service_note_of_the_lead(store: AccountStore, api: Api) -> None:
    events = api.items("/api/v4/events", "events", {"filter[type]": "lead_added", "limit": 100})
    with_note = [e for e in events if e["value_after"]]
    assert with_note, "no lead_added event carries a note"
    for event in events:
        assert event["value_before"] == []
        after = event["value_after"]
        assert after == [] or (len(after) == 1 and set(after[0]) == {"note"})
        assert after == [] or isinstance(after[0]["note"]["id"], int)
    # Every note a lead_added points to exists, on that lead, written when it was added.
    for event in with_note:
        note_id = event["value_after"][0]["note"]["id"]
        note = api.json(f"/api/v4/leads/{event['entity_id']}/notes/{note_id}")
        assert note["note_type"] == "service_message"
        assert note["created_at"] == event["created_at"]
        assert set(note["params"]) == {"service", "text"}
    share = rows(
        store,
        "SELECT avg(CASE WHEN value_after <> '[]' THEN 1 ELSE 0 END) FROM events "
        "WHERE type = 'lead_added'",
    )[0][0]
    assert 0.2 < share < 0.9


def test_service_and_amomail_notes_on_leads_and_contacts(store: AccountStore, api: Api) -> None:
    types = {
        (entity, kind)
        for entity, kind in rows(store, "SELECT DISTINCT entity_type, note_type FROM notes")
    }
    assert {("leads", "service_message"), ("leads", "amomail_message")} <= types
    assert ("contacts", "amomail_message") in types
    for entity in ("leads", "contacts"):
        mails = api.items(
            f"/api/v4/{entity}/notes", "notes", {"filter[note_type]": "amomail_message"}
        )
        assert mails and {m["note_type"] for m in mails} == {"amomail_message"}
        for mail in mails:
            p = mail["params"]
            assert isinstance(p["income"], bool) and p["subject"]
            assert {"email", "name"} == set(p["from"]) == set(p["to"])
            assert "@" in p["from"]["email"] and "@" in p["to"]["email"]
    # Every e-mail event has its e-mail note, the same second, on the lead or its main contact.
    missing = rows(
        store,
        """SELECT count(*) FROM events e WHERE e.type IN ('incoming_mail', 'outgoing_mail')
           AND NOT EXISTS (SELECT 1 FROM notes n
               WHERE n.note_type = 'amomail_message' AND n.created_at = e.created_at
                 AND ((n.entity_type = 'leads' AND n.entity_id = e.entity_id)
                   OR (n.entity_type = 'contacts' AND n.entity_id IN (
                       SELECT contact_id FROM lead_contacts
                       WHERE lead_id = e.entity_id AND is_main))))""",
    )[0][0]
    assert missing == 0
    mails = rows(store, "SELECT count(*) FROM notes WHERE note_type = 'amomail_message'")[0][0]
    assert (
        mails
        == rows(
            store, "SELECT count(*) FROM events WHERE type IN ('incoming_mail', 'outgoing_mail')"
        )[0][0]
    )


def test_some_call_notes_have_a_phone_source_and_no_link(api: Api) -> None:
    calls = api.items(
        "/api/v4/leads/notes", "notes", {"filter[note_type]": "call_out", "limit": 250}
    )
    phone_sourced = [c for c in calls if c["params"]["source"].startswith("+")]
    assert phone_sourced and len(phone_sourced) < len(calls)
    for call in phone_sourced:
        assert call["params"]["source"][1:].isdigit()
        assert "link" in call["params"] and call["params"]["link"] is None
    assert all(isinstance(c["params"]["link"], str) for c in calls if c not in phone_sourced)


def test_note_ids_stay_unique_and_events_still_find_their_notes(store: AccountStore) -> None:
    assert rows(store, "SELECT count(*) - count(DISTINCT id) FROM notes")[0][0] == 0
    meta = dict(rows(store, "SELECT key, value FROM meta"))
    assert int(meta["next_note_id"]) > rows(store, "SELECT max(id) FROM notes")[0][0]


# -- leads -------------------------------------------------------------------------------------


def test_labor_cost_is_null_on_some_leads_and_zero_on_others(api: Api) -> None:
    leads = walk(api, "/api/v4/leads", "leads", 250)
    costs = [lead["labor_cost"] for lead in leads]  # the key is always there
    assert None in costs and 0 in costs
    assert set(costs) <= {None, 0}


def test_lead_and_contact_items_repeat_the_list_query_in_their_self_link(api: Api) -> None:
    for path, key in (("/api/v4/leads", "leads"), ("/api/v4/contacts", "contacts")):
        body = api.json(path, {"page": 2, "limit": 5, "with": "contacts"})
        page_query = parse_qs(urlsplit(body["_links"]["self"]["href"]).query)
        for item in body["_embedded"][key]:
            href = item["_links"]["self"]["href"]
            assert href.startswith(f"{API}/{key}/{item['id']}?")
            assert parse_qs(urlsplit(href).query) == page_query
    # A single entity and embedded stubs keep plain links.
    lead = api.json("/api/v4/leads", {"limit": 1, "with": "contacts"})["_embedded"]["leads"][0]
    one = api.json(f"/api/v4/leads/{lead['id']}")
    assert one["_links"]["self"]["href"] == f"{API}/leads/{lead['id']}"
    for contact in lead["_embedded"]["contacts"]:
        assert "?" not in contact["_links"]["self"]["href"]
    events = api.items("/api/v4/events", "events", {"limit": 5})
    assert all("?" not in e["_links"]["self"]["href"] for e in events)


def test_tracking_codes_beyond_the_standard_eight(store: AccountStore, api: Api) -> None:
    fields = walk(api, "/api/v4/leads/custom_fields", "custom_fields", 50)
    tracking = {f["code"]: f for f in fields if f["type"] == "tracking_data"}
    assert set(TRACKING_FIELD_CODES) | EXTRA_CODES <= set(tracking)
    own = set(tracking) - set(TRACKING_FIELD_CODES) - EXTRA_CODES
    assert own, "no account-specific tracking code"
    assert len({f["id"] for f in tracking.values()}) == len(tracking)

    served: dict[str, int] = {}
    referrer_both = 0
    for lead in walk(api, "/api/v4/leads", "leads", 250):
        values = lead["custom_fields_values"] or []
        codes = {v["field_code"] for v in values if v["field_type"] == "tracking_data"}
        referrer_both += {"REFERRER", "UTM_REFERRER"} <= codes
        for value in values:
            if value["field_type"] == "tracking_data":
                assert value["field_id"] == tracking[value["field_code"]]["id"]
                assert isinstance(value["values"][0]["value"], str) and value["values"][0]["value"]
                served[value["field_code"]] = served.get(value["field_code"], 0) + 1
    assert EXTRA_CODES | own <= set(served)
    assert referrer_both == 0, "UTM_REFERRER comes instead of REFERRER, not beside it"
    # The ground truth holds exactly what is served.
    truth = dict(
        rows(
            store,
            "SELECT f.code, count(*) FROM lead_tracking t JOIN custom_fields f ON f.id = t.field_id "
            "JOIN leads l ON l.id = t.lead_id WHERE NOT l.is_deleted GROUP BY f.code",
        )
    )
    assert truth == {code: n for code, n in served.items() if code not in TRACKING_FIELD_CODES}


def test_account_specific_tracking_codes_differ_between_seeds(store: AccountStore) -> None:
    def own(s: AccountStore) -> set[str]:
        codes = {
            r[0] for r in rows(s, "SELECT code FROM custom_fields WHERE type = 'tracking_data'")
        }
        return codes - set(TRACKING_FIELD_CODES) - EXTRA_CODES

    others = [own(build_account(seed=seed, scale="small", now=NOW)) for seed in (2, 3, 4)]
    assert any(o != own(store) for o in others)


def test_some_enums_are_objects_keyed_by_index(api: Api) -> None:
    fields = walk(api, "/api/v4/leads/custom_fields", "custom_fields", 50)
    with_enums = [f for f in fields if f["enums"] is not None]
    keyed = [f for f in with_enums if isinstance(f["enums"], dict)]
    listed = [f for f in with_enums if isinstance(f["enums"], list)]
    assert keyed and listed
    for field in keyed:
        assert list(field["enums"]) == [str(i) for i in range(len(field["enums"]))]
        assert all({"id", "value", "sort"} == set(e) for e in field["enums"].values())
    # The product field keeps its list, and its values still resolve to names on leads.
    product = next(f for f in fields if f["name"] == "Produto")
    assert isinstance(product["enums"], list)


# -- users, pages, account ---------------------------------------------------------------------


def test_users_carry_the_full_rights(store: AccountStore, api: Api) -> None:
    stages = set(rows(store, "SELECT pipeline_id, id FROM statuses"))
    users = api.items("/api/v4/users", "users", {"limit": 250})
    for user in users:
        rights = user["rights"]
        assert isinstance(rights["files_access"], str)
        assert isinstance(rights["oper_day_reports_view_access"], bool)
        assert isinstance(rights["oper_day_user_tracking"], bool)
        for item in rights["status_rights"] or []:
            assert item["entity_type"] == "leads"
            assert (item["pipeline_id"], item["status_id"]) in stages
            assert set(item["rights"]) >= {"view", "edit", "delete"}
        for item in rights["catalog_rights"] or []:
            assert isinstance(item["catalog_id"], int)
            assert set(item["rights"]) >= {"view", "edit", "add", "delete", "export"}
    assert any(u["rights"]["status_rights"] for u in users)
    assert any(u["rights"]["catalog_rights"] for u in users)


def test_custom_field_pages_come_without_page_number(api: Api) -> None:
    body = api.json("/api/v4/leads/custom_fields")
    assert "_page" not in body and "_total_items" in body
    assert "_page" in api.json("/api/v4/leads", {"limit": 5})


def test_quirk_pages_without_page(store: AccountStore) -> None:
    served = quirky(store, "pages_without_page")
    for path in ("/api/v4/leads", "/api/v4/events", "/api/v4/tasks", "/api/v4/users"):
        body = served.json(path, {"limit": 5})
        assert "_page" not in body and "next" in body["_links"], path


def test_account_embeds_what_with_asks_by_default(api: Api) -> None:
    body = api.json("/api/v4/account", {"with": "task_types,datetime_settings,users_groups"})
    assert {"task_types", "datetime_settings", "users_groups"} <= set(body["_embedded"])


def test_quirk_account_without_embedded_ignores_with(store: AccountStore) -> None:
    served = quirky(store, "account_without_embedded")
    body = served.json("/api/v4/account", {"with": "task_types,datetime_settings,users_groups"})
    assert "_embedded" not in body
    assert body["currency"] == "BRL"  # the rest of the account is still there


def test_quirk_account_without_datetime(store: AccountStore) -> None:
    served = quirky(store, "account_without_datetime")
    body = served.json("/api/v4/account", {"with": "task_types,datetime_settings"})
    assert "task_types" in body["_embedded"] and "datetime_settings" not in body["_embedded"]


def test_quirks_parse_and_refuse_unknown_names() -> None:
    from kommo_analytics.errors import EmulatorError

    assert Quirks.parse(None) == Quirks()
    quirks = Quirks.parse("account_without_embedded, account_without_datetime")
    assert quirks.account_without_embedded and quirks.account_without_datetime
    assert not quirks.pages_without_page
    assert quirks.describe() == "account_without_embedded, account_without_datetime"
    with pytest.raises(EmulatorError) as caught:
        Quirks.parse("account_without_embeded")
    assert "pages_without_page" in (caught.value.hint or "")


def test_the_shapes_are_deterministic_by_seed(store: AccountStore) -> None:
    again = build_account(seed=1, scale="small", now=NOW)
    for table in ("notes", "lead_tracking", "custom_fields", "events"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert rows(again, sql) == rows(store, sql), table
    assert rows(again, "SELECT id, labor_cost FROM leads ORDER BY id") == rows(
        store, "SELECT id, labor_cost FROM leads ORDER BY id"
    )
