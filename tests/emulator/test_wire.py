"""Wire conformance of the emulator's read endpoints (docs/kommo-api.md §3, §5, §6, §7, §11).

Served in-process from the resource routes alone (no auth layer) over the tiny hand-built store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from kommo_analytics.emulator import resources
from kommo_analytics.emulator.app import _http_error
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.kommo.entities import (
    CUSTOM_FIELDS_PAGE_SIZE,
    EVENTS_FALLBACK_PAGE_SIZE,
    EVENTS_PAGE_SIZE,
    MAX_PAGE_SIZE,
)
from tests.emulator import fixtures as f

BASE = "https://tiny.kommo.com"
API = f"{BASE}/api/v4"


class Api:
    """A synchronous face over httpx's ASGI transport (one event loop per call keeps tests
    plain functions; the handlers themselves run in Starlette's threadpool)."""

    def __init__(self, store: AccountStore, now: int = f.NOW) -> None:
        self.state = EmulatorState(store=store, clock=lambda: float(now))
        self.app = Starlette(
            routes=resources.routes(self.state),
            exception_handlers={404: _http_error, 405: _http_error},
        )

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return await client.get(url, params=params)

        return asyncio.run(go())

    def json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        response = self.get(url, params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/hal+json"
        return response.json()

    def items(self, url: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        response = self.get(url, params)
        if response.status_code == 204:
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["_embedded"][key])

    def ids(self, url: str, key: str, params: dict[str, Any] | None = None) -> list[Any]:
        return [item["id"] for item in self.items(url, key, params)]


@pytest.fixture(scope="module")
def api() -> Api:
    return Api(f.tiny_store())


@pytest.fixture
def fresh() -> Iterator[Api]:
    """A private store for tests that add rows."""
    yield Api(f.tiny_store())


def assert_204(response: httpx.Response) -> None:
    assert response.status_code == 204
    assert response.content == b""


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"title", "type", "detail"} <= set(body)
    return body


def all_self_links(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "_links" in node:
            yield node["_links"]["self"]["href"]
        for value in node.values():
            yield from all_self_links(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_self_links(value)


# -- envelope, links, paging -------------------------------------------------------------------


def test_collection_envelope_and_absolute_links(api: Api) -> None:
    body = api.json("/api/v4/leads", {"with": "contacts,loss_reason"})
    assert body["_page"] == 1
    assert body["_links"] == {"self": {"href": f"{API}/leads?with=contacts,loss_reason&page=1"}}
    leads = body["_embedded"]["leads"]
    assert [lead["id"] for lead in leads] == sorted(f.LIVE_LEADS)
    links = list(all_self_links(body))
    assert len(links) > len(leads)
    assert all(link.startswith(f"{API}/") for link in links)


def test_links_follow_the_request_host(api: Api) -> None:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as c:
            return await c.get("/api/v4/tasks/5500001")

    body = asyncio.run(go()).json()
    assert body["_links"]["self"]["href"] == "http://127.0.0.1:8765/api/v4/tasks/5500001"


def test_links_reencode_query_like_the_reference(api: Api) -> None:
    # docs/kommo-api.md §11.1
    raw = "page=2&limit=2&with=contacts,loss_reason&order%5Bupdated_at%5D=asc"
    links = api.json(f"/api/v4/leads?{raw}")["_links"]
    suffix = "&limit=2&with=contacts,loss_reason&order%5Bupdated_at%5D=asc"
    assert links == {
        "self": {"href": f"{API}/leads?page=2{suffix}"},
        "next": {"href": f"{API}/leads?page=3{suffix}"},
        "first": {"href": f"{API}/leads?page=1{suffix}"},
        "prev": {"href": f"{API}/leads?page=1{suffix}"},
    }


def test_paging_walk_ends_without_next(api: Api) -> None:
    seen: list[int] = []
    url: str | None = "/api/v4/leads?limit=2"
    pages = 0
    while url:
        body = api.json(url)
        pages += 1
        assert ("prev" in body["_links"]) == (body["_page"] > 1)
        seen += [lead["id"] for lead in body["_embedded"]["leads"]]
        url = body["_links"].get("next", {}).get("href")
    assert pages == 3  # 2 + 2 + 1 rows: the short last page has no `next`
    assert seen == sorted(f.LIVE_LEADS)


def test_exactly_full_last_page_links_to_a_204(api: Api) -> None:
    body = api.json("/api/v4/leads", {"limit": len(f.LIVE_LEADS)})
    assert len(body["_embedded"]["leads"]) == len(f.LIVE_LEADS)
    assert_204(api.get(body["_links"]["next"]["href"]))


def test_no_match_is_204_with_empty_body(api: Api) -> None:
    assert_204(api.get("/api/v4/leads", {"filter[id]": "999"}))
    assert_204(api.get("/api/v4/leads", {"page": "50"}))
    assert_204(api.get("/api/v4/events", {"filter[type]": "no_such_type"}))
    assert_204(api.get("/api/v4/tasks", {"page": "99999999999999999"}))


def _add_leads(api: Api, count: int) -> None:
    api.state.store.cursor().execute(
        "INSERT INTO leads (id, name, status_id, pipeline_id, created_at, updated_at, is_deleted, "
        "tag_ids) SELECT 40000000 + i, 'bulk ' || i, ?, ?, ?, ?, false, [] FROM range(?) t(i)",
        [f.CONTACTED, f.SALES, f.T, f.T, count],
    )


def test_limit_default_50_and_capped_at_250(fresh: Api) -> None:
    _add_leads(fresh, 300)
    assert len(fresh.items("/api/v4/leads", "leads")) == 50
    assert len(fresh.items("/api/v4/leads", "leads", {"limit": "300"})) == MAX_PAGE_SIZE
    body = fresh.json("/api/v4/leads", {"limit": "300", "page": "2"})
    assert len(body["_embedded"]["leads"]) == 305 - MAX_PAGE_SIZE


def test_events_limit_above_100_silently_gets_50(fresh: Api) -> None:
    fresh.state.store.cursor().execute(
        "INSERT INTO events SELECT 'bulk' || lpad(i::VARCHAR, 6, '0'), 100 + i, 'lead_added', "
        "?, 'lead', 0, ?, '[]', '[]' FROM range(150) t(i)",
        [f.LEAD_OPEN, f.T],
    )
    assert len(fresh.items("/api/v4/events", "events", {"limit": "100"})) == EVENTS_PAGE_SIZE
    over = fresh.items("/api/v4/events", "events", {"limit": "250"})
    assert len(over) == EVENTS_FALLBACK_PAGE_SIZE


def test_custom_fields_at_most_50_per_page(fresh: Api) -> None:
    fresh.state.store.cursor().execute(
        "INSERT INTO custom_fields SELECT 800000 + i, 'leads', 'Campo ' || i, NULL, 'text', "
        "100 + i, false, false, true, NULL FROM range(60) t(i)"
    )
    body = fresh.json("/api/v4/leads/custom_fields", {"limit": "250"})
    assert len(body["_embedded"]["custom_fields"]) == CUSTOM_FIELDS_PAGE_SIZE
    assert body["_total_items"] == 70
    assert "next" in body["_links"]


def test_paging_is_deterministic_on_ties(fresh: Api) -> None:
    _add_leads(fresh, 30)  # 30 leads sharing one updated_at
    walked: list[int] = []
    for page in range(1, 10):
        walked += fresh.ids(
            "/api/v4/leads", "leads", {"order[updated_at]": "asc", "limit": "7", "page": page}
        )
    assert len(walked) == len(set(walked)) == 30 + len(f.LIVE_LEADS)


# -- errors ------------------------------------------------------------------------------------


def test_unknown_route_is_404_problem(api: Api) -> None:
    assert_problem(api.get("/api/v4/no_such_thing"), 404)


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "abc"}, "limit"),
        ({"page": "x"}, "page"),
        ({"filter[id]": "x"}, "filter[id]"),
        ({"filter[created_at][from]": "yesterday"}, "filter[created_at][from]"),
        ({"order[price]": "asc"}, "order[price]"),
        ({"order[id]": "up"}, "order[id]"),
        ({"filter[statuses][0][status_id]": "142"}, "filter[statuses][0]"),
    ],
)
def test_bad_values_are_400_with_validation_errors(
    api: Api, params: dict[str, str], path: str
) -> None:
    body = assert_problem(api.get("/api/v4/leads", params), 400)
    errors = body["validation-errors"][0]["errors"]
    assert body["validation-errors"][0]["request_id"] == "0"
    assert errors[0]["path"] == path
    assert errors[0]["code"] and errors[0]["detail"]


def test_missing_or_deleted_lead_is_204_and_unknown_loss_reason_404(api: Api) -> None:
    assert_204(api.get("/api/v4/leads/1"))
    assert_204(api.get(f"/api/v4/leads/{f.LEAD_DELETED}"))
    body = assert_problem(api.get("/api/v4/leads/loss_reasons/1"), 404)
    assert body["detail"] == "Loss reason not found"


# -- leads -------------------------------------------------------------------------------------


def lead(api: Api, lead_id: int, with_: str = "") -> dict[str, Any]:
    found: dict[str, Any] = api.json(f"/api/v4/leads/{lead_id}", {"with": with_} if with_ else None)
    return found


def test_lead_fields(api: Api) -> None:
    body = lead(api, f.LEAD_OPEN)
    assert list(body) == [
        "id", "name", "price", "responsible_user_id", "group_id", "status_id", "pipeline_id",
        "loss_reason_id", "created_by", "updated_by", "created_at", "updated_at", "closed_at",
        "closest_task_at", "is_deleted", "custom_fields_values", "score", "account_id",
        "labor_cost", "_links", "_embedded",
    ]  # fmt: skip
    assert body["account_id"] == f.ACCOUNT_ID
    assert body["is_deleted"] is False
    assert body["closest_task_at"] == f.T + 7200
    assert body["closed_at"] is None
    assert (body["score"], body["labor_cost"], body["group_id"]) == (7, 120, 0)
    assert isinstance(body["created_at"], int)
    assert body["_links"]["self"]["href"] == f"{API}/leads/{f.LEAD_OPEN}"
    assert set(body["_embedded"]) == {"tags", "companies"}
    assert body["_embedded"]["tags"] == [
        {"id": 4002, "name": "indicação", "color": "#ffdd00"},
        {"id": 4001, "name": "website", "color": None},
    ]


def test_lead_custom_fields_values(api: Api) -> None:
    values = lead(api, f.LEAD_WON)["custom_fields_values"]
    assert values == [
        {"field_id": f.UTM_SOURCE_FIELD, "field_name": "utm_source", "field_code": "UTM_SOURCE",
         "field_type": "tracking_data", "values": [{"value": "google"}]},
        {"field_id": f.UTM_MEDIUM_FIELD, "field_name": "utm_medium", "field_code": "UTM_MEDIUM",
         "field_type": "tracking_data", "values": [{"value": "cpc"}]},
        {"field_id": f.UTM_CAMPAIGN_FIELD, "field_name": "utm_campaign",
         "field_code": "UTM_CAMPAIGN", "field_type": "tracking_data",
         "values": [{"value": "black_friday"}]},
        {"field_id": f.PRODUCT_FIELD, "field_name": "Produto", "field_code": None,
         "field_type": "select",
         "values": [{"value": "Premium", "enum_id": f.PREMIUM, "enum_code": None}]},
        {"field_id": f.QUANTITY_FIELD, "field_name": "Quantidade", "field_code": None,
         "field_type": "numeric", "values": [{"value": "12"}]},
    ]  # fmt: skip
    assert lead(api, f.LEAD_LOST)["custom_fields_values"] is None


def test_tracking_field_ids_come_from_the_account(fresh: Api) -> None:
    fresh.state.store.cursor().execute(
        "UPDATE custom_fields SET id = 123 WHERE code = 'UTM_SOURCE'"
    )
    values = lead(fresh, f.LEAD_WON)["custom_fields_values"]
    assert values[0]["field_id"] == 123 and values[0]["field_code"] == "UTM_SOURCE"


def test_lead_embedded_contacts_only_with_contacts(api: Api) -> None:
    body = lead(api, f.LEAD_WON, "contacts")
    assert body["_embedded"]["contacts"] == [
        {"id": f.JOAO, "is_main": True, "_links": {"self": {"href": f"{API}/contacts/{f.JOAO}"}}},
        {"id": f.MARIA, "is_main": False,
         "_links": {"self": {"href": f"{API}/contacts/{f.MARIA}"}}},
    ]  # fmt: skip
    # The only contact of this lead is deleted.
    assert lead(api, f.LEAD_OPEN, "contacts")["_embedded"]["contacts"] == []
    assert "contacts" not in lead(api, f.LEAD_WON)["_embedded"]


def test_lead_companies_always_present(api: Api) -> None:
    assert lead(api, f.LEAD_WON)["_embedded"]["companies"] == []
    assert lead(api, f.LEAD_LOST)["_embedded"]["companies"] == [
        {"id": f.ACME, "_links": {"self": {"href": f"{API}/companies/{f.ACME}"}}}
    ]


def test_lead_loss_reason_is_an_array(api: Api) -> None:
    lost = lead(api, f.LEAD_LOST, "loss_reason")
    assert lost["loss_reason_id"] == f.NO_ANSWER
    assert lost["_embedded"]["loss_reason"] == [
        {"id": f.NO_ANSWER, "name": "Sem resposta", "sort": 2, "created_at": f.T - 5000,
         "updated_at": f.T - 4000,
         "_links": {"self": {"href": f"{API}/leads/loss_reasons/{f.NO_ANSWER}"}}}
    ]  # fmt: skip
    assert lead(api, f.LEAD_WON, "loss_reason")["_embedded"]["loss_reason"] == []
    assert "loss_reason" not in lead(api, f.LEAD_LOST)["_embedded"]


def test_lead_source_and_source_id(api: Api) -> None:
    body = lead(api, f.LEAD_WON, "source,source_id")
    assert body["source_id"] == f.SITE_SOURCE
    assert body["_embedded"]["source"] == {"id": f.SITE_SOURCE, "name": "Formulário do site"}
    plain = lead(api, f.LEAD_WON)
    assert "source_id" not in plain and "source" not in plain["_embedded"]
    assert lead(api, f.LEAD_LOST, "source_id")["source_id"] is None


def test_deleted_leads_hidden_and_only_deleted(api: Api) -> None:
    assert f.LEAD_DELETED not in api.ids("/api/v4/leads", "leads")
    deleted = api.items("/api/v4/leads", "leads", {"with": "only_deleted"})
    assert deleted == [
        {"id": f.LEAD_DELETED, "updated_at": f.T - 1500, "is_deleted": True,
         "_links": {"self": {"href": f"{API}/leads/{f.LEAD_DELETED}"}}}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[id]": f"{f.LEAD_WON},{f.LEAD_LOST}"}, [f.LEAD_WON, f.LEAD_LOST]),
        ({"filter[id][]": [str(f.LEAD_OPEN), str(f.LEAD_DELETED)]}, [f.LEAD_OPEN]),
        ({"filter[name]": "Parceria Norte"}, [f.LEAD_PARTNER]),
        ({"filter[price][from]": "900", "filter[price][to]": "1500"}, [f.LEAD_WON, f.LEAD_OPEN]),
        ({"filter[price]": "0"}, [f.LEAD_LOST]),
        ({"filter[created_by]": "0"}, [f.LEAD_WON, f.LEAD_OPEN, f.LEAD_INCOMING]),
        ({"filter[updated_by][]": str(f.FORMER)}, [f.LEAD_PARTNER]),
        ({"filter[responsible_user_id][]": [str(f.ADMIN), str(f.FORMER)]},
         [f.LEAD_OPEN, f.LEAD_PARTNER, f.LEAD_INCOMING]),
        ({"filter[created_at][from]": str(f.T - 4000), "filter[created_at][to]": str(f.T - 3000)},
         [f.LEAD_OPEN, f.LEAD_PARTNER]),
        ({"filter[updated_at]": str(f.T - 1000)}, [f.LEAD_WON, f.LEAD_INCOMING]),
        ({"filter[closed_at][from]": str(f.T - 1500)}, [f.LEAD_WON]),
        ({"filter[closest_task_at][from]": str(f.T)}, [f.LEAD_OPEN]),
        ({"filter[pipeline_id]": str(f.PARTNERS)}, [f.LEAD_PARTNER]),
        ({"filter[statuses][0][pipeline_id]": str(f.SALES),
          "filter[statuses][0][status_id]": "142",
          "filter[statuses][1][pipeline_id]": str(f.PARTNERS),
          "filter[statuses][1][status_id]": str(f.P2_TALKING)},
         [f.LEAD_WON, f.LEAD_PARTNER]),
        ({"filter[statuses][0][pipeline_id]": str(f.PARTNERS),
          "filter[statuses][0][status_id]": "142"}, []),
        ({"query": "whatsapp"}, [f.LEAD_INCOMING]),
        ({"filter[no_such_filter]": "1"}, sorted(f.LIVE_LEADS)),
    ],
)  # fmt: skip
def test_lead_filters(api: Api, params: dict[str, Any], expected: list[int]) -> None:
    assert api.ids("/api/v4/leads", "leads", params) == expected


def test_lead_ordering(api: Api) -> None:
    by_updated = api.ids("/api/v4/leads", "leads", {"order[updated_at]": "desc"})
    assert by_updated == [f.LEAD_INCOMING, f.LEAD_WON, f.LEAD_LOST, f.LEAD_PARTNER, f.LEAD_OPEN]
    assert api.ids("/api/v4/leads", "leads", {"order[id]": "desc"}) == sorted(
        f.LIVE_LEADS, reverse=True
    )
    assert api.ids("/api/v4/leads", "leads", {"order[created_at]": "asc"}) == sorted(f.LIVE_LEADS)


# -- contacts and companies --------------------------------------------------------------------


def test_contacts(api: Api) -> None:
    contacts = api.items("/api/v4/contacts", "contacts", {"with": "leads"})
    assert [c["id"] for c in contacts] == [f.JOAO, f.MARIA]  # the deleted contact is hidden
    joao, maria = contacts
    assert joao["custom_fields_values"] is None
    assert joao["account_id"] == f.ACCOUNT_ID
    assert joao["_embedded"]["tags"] == [{"id": 4003, "name": "vip", "color": None}]
    assert joao["_embedded"]["companies"] == [
        {"id": f.ACME, "_links": {"self": {"href": f"{API}/companies/{f.ACME}"}}}
    ]
    # A deleted lead is not linked.
    assert [x["id"] for x in joao["_embedded"]["leads"]] == [f.LEAD_WON]
    assert [x["id"] for x in maria["_embedded"]["leads"]] == [f.LEAD_WON, f.LEAD_LOST]
    assert maria["_embedded"]["companies"] == [] and maria["_embedded"]["tags"] == []
    plain = api.json(f"/api/v4/contacts/{f.JOAO}")
    assert set(plain["_embedded"]) == {"tags", "companies"}
    assert_204(api.get(f"/api/v4/contacts/{f.GONE_CONTACT}"))
    assert api.ids(
        "/api/v4/contacts", "contacts", {"filter[updated_at][from]": str(f.T - 450)}
    ) == [f.MARIA]


def test_companies(api: Api) -> None:
    (acme,) = api.items("/api/v4/companies", "companies", {"with": "leads,contacts"})
    assert acme["_links"]["self"]["href"] == f"{API}/companies/{f.ACME}"
    assert acme["_embedded"]["leads"][0]["id"] == f.LEAD_LOST
    assert acme["_embedded"]["contacts"][0]["id"] == f.JOAO
    assert api.json(f"/api/v4/companies/{f.ACME}")["name"] == "Acme Ltda"


# -- events ------------------------------------------------------------------------------------


def test_event_shape(api: Api) -> None:
    event = api.json("/api/v4/events/01jtiny00000000000000000a2")
    assert event == {
        "id": "01jtiny00000000000000000a2",
        "type": "lead_status_changed",
        "entity_id": f.LEAD_WON,
        "entity_type": "lead",
        "created_by": f.SELLER,
        "created_at": f.T - 1000,
        "value_after": [{"lead_status": {"id": 142, "pipeline_id": f.SALES}}],
        "value_before": [{"lead_status": {"id": f.PROPOSAL, "pipeline_id": f.SALES}}],
        "account_id": f.ACCOUNT_ID,
        "_links": {"self": {"href": f"{API}/events/01jtiny00000000000000000a2"}},
        "_embedded": {
            "entity": {"id": f.LEAD_WON, "_links": {"self": {"href": f"{API}/leads/{f.LEAD_WON}"}}}
        },
    }
    assert_204(api.get("/api/v4/events/nope"))


def test_events_default_order_newest_first_then_seq(api: Api) -> None:
    events = api.items("/api/v4/events", "events")
    keys = [(e["created_at"], e["id"]) for e in events]
    assert keys == sorted(keys, key=lambda k: k[0], reverse=True)
    # a3 and a4 share created_at: the later-inserted (higher seq) comes first.
    ids = [e["id"] for e in events]
    assert ids.index("01jtiny00000000000000000a4") < ids.index("01jtiny00000000000000000a3")
    assert {e["entity_type"] for e in events} == {"lead", "contact", "task"}
    assert all(isinstance(e["id"], str) for e in events)


def test_chat_event_on_contact(api: Api) -> None:
    (chat,) = api.items("/api/v4/events", "events", {"filter[type]": "incoming_chat_message"})
    assert chat["entity_type"] == "contact"
    assert chat["_embedded"]["entity"]["_links"]["self"]["href"] == f"{API}/contacts/{f.JOAO}"
    assert chat["value_after"][0]["message"]["id"]


def event_ids(api: Api, params: dict[str, Any]) -> list[str]:
    return sorted(e["id"][-2:] for e in api.items("/api/v4/events", "events", params))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[type]": "lead_added,task_completed"}, ["a1", "a7"]),
        ({"filter[type][]": ["lead_added", "task_completed"]}, ["a1", "a7"]),
        ({"filter[type][0]": "lead_deleted"}, ["a8"]),
        ({"filter[id]": "01jtiny00000000000000000a5"}, ["a5"]),
        ({"filter[id][]": ["01jtiny00000000000000000a5", "01jtiny00000000000000000a6"]},
         ["a5", "a6"]),
        ({"filter[entity]": "contact,task"}, ["a4", "a7"]),
        ({"filter[entity]": "lead", "filter[entity_id]": str(f.LEAD_OPEN)}, ["a5", "a6", "a9"]),
        ({"filter[entity]": "lead", "filter[entity_id][]": [str(f.LEAD_WON), str(f.LEAD_LOST)]},
         ["a1", "a2", "a3"]),
        ({"filter[created_by]": "0"}, ["a1", "a4", "a9"]),
        ({"filter[created_at]": str(f.T - 1500)}, ["a2", "a7", "a8"]),
        ({"filter[created_at][from]": str(f.T - 3800), "filter[created_at][to]": str(f.T - 3000)},
         ["a5", "a6", "a9"]),
        ({"filter[created_at]": f"{f.T - 2000},{f.T - 1500}"}, ["a3", "a4", "a8"]),
        ({"filter[value_after][leads_statuses][0][pipeline_id]": str(f.SALES),
          "filter[value_after][leads_statuses][0][status_id]": "142"}, ["a2"]),
        ({"filter[value_after][leads_statuses][0][pipeline_id]": str(f.SALES),
          "filter[value_after][leads_statuses][0][status_id]": "142",
          "filter[value_after][leads_statuses][1][pipeline_id]": str(f.SALES),
          "filter[value_after][leads_statuses][1][status_id]": "143"}, ["a2", "a3"]),
        ({"filter[value_before][leads_statuses][0][pipeline_id]": str(f.SALES),
          "filter[value_before][leads_statuses][0][status_id]": str(f.INCOMING)}, ["a9"]),
        ({"filter[value_after][responsible_user_id]": str(f.ADMIN)}, ["a6"]),
    ],
)  # fmt: skip
def test_event_filters(api: Api, params: dict[str, Any], expected: list[str]) -> None:
    assert event_ids(api, params) == expected


def test_event_created_at_single_value_stops_at_now(fresh: Api) -> None:
    fresh.state.store.cursor().execute(
        "INSERT INTO events VALUES ('future', 99, 'lead_added', ?, 'lead', 0, ?, '[]', '[]')",
        [f.LEAD_OPEN, f.NOW + 60],
    )
    ids = [e["id"] for e in fresh.items("/api/v4/events", "events", {"filter[created_at]": f.T})]
    assert "future" not in ids
    ranged = fresh.items("/api/v4/events", "events", {"filter[created_at][from]": f.T})
    assert [e["id"] for e in ranged] == ["future"]


@pytest.mark.parametrize(
    "params",
    [
        {"filter[entity_id]": str(f.LEAD_OPEN)},
        {"filter[entity]": "lead,contact", "filter[entity_id]": str(f.LEAD_OPEN)},
        {"filter[entity]": "leads"},
        {"filter[entity]": "lead", "filter[entity_id]": ",".join(str(i) for i in range(11))},
        {"order[created_at]": "desc"},
    ],
)
def test_event_filter_errors(api: Api, params: dict[str, str]) -> None:
    assert_problem(api.get("/api/v4/events", params), 400)


def test_events_with_entity_names(api: Api) -> None:
    events = api.items("/api/v4/events", "events", {"with": "lead_name,contact_name"})
    names = {e["id"][-2:]: e["_embedded"]["entity"].get("name") for e in events}
    assert names["a2"] == "Formulário do site #1"
    assert names["a4"] == "João Silva"
    assert names["a7"] is None  # a task has no name
    plain = api.items("/api/v4/events", "events")
    assert all("name" not in e["_embedded"]["entity"] for e in plain)


# -- tasks -------------------------------------------------------------------------------------


def test_task_shape(api: Api) -> None:
    done = api.json("/api/v4/tasks/5500001")
    assert done["result"] == {"text": "Fechou, enviando contrato"}
    assert done["entity_type"] == "leads"
    assert done["is_completed"] is True
    assert done["account_id"] == f.ACCOUNT_ID
    assert done["_links"]["self"]["href"] == f"{API}/tasks/5500001"
    assert api.json("/api/v4/tasks/5500002")["result"] == []
    assert api.json("/api/v4/tasks/5500003")["entity_type"] == "contacts"
    assert_204(api.get("/api/v4/tasks/1"))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter[is_completed]": "1"}, [5500001, 5500002]),
        ({"filter[is_completed]": "false"}, [5500003, 5500004]),
        ({"filter[task_type]": "1"}, [5500001, 5500004]),
        ({"filter[task_type_id][]": ["2", "3"]}, [5500002, 5500003]),
        ({"filter[responsible_user_id]": str(f.SELLER)}, [5500001, 5500002]),
        ({"filter[created_by]": "0"}, [5500002]),
        ({"filter[id][]": ["5500004", "5500001"]}, [5500001, 5500004]),
        ({"filter[entity_type]": "leads"}, [5500001, 5500002]),
        ({"filter[entity_type]": "contacts", "filter[entity_id][]": str(f.JOAO)}, [5500003]),
        ({"filter[updated_at]": str(f.T - 1200)}, [5500001, 5500002]),
        ({"filter[updated_at][from]": str(f.T - 3000), "filter[updated_at][to]": str(f.T - 2000)},
         [5500003, 5500004]),
        ({"order[complete_till]": "desc"}, [5500003, 5500004, 5500002, 5500001]),
    ],
)  # fmt: skip
def test_task_filters_and_order(api: Api, params: dict[str, Any], expected: list[int]) -> None:
    assert api.ids("/api/v4/tasks", "tasks", params) == expected


def test_task_filter_errors(api: Api) -> None:
    assert_problem(api.get("/api/v4/tasks", {"filter[is_completed]": "maybe"}), 400)
    assert_problem(api.get("/api/v4/tasks", {"filter[entity_id]": str(f.JOAO)}), 400)
    assert_problem(api.get("/api/v4/tasks", {"order[updated_at]": "asc"}), 400)


# -- notes -------------------------------------------------------------------------------------


def test_notes(api: Api) -> None:
    notes = api.items("/api/v4/leads/notes", "notes")
    assert [n["id"] for n in notes] == [77000001, 77000002, 77000004]
    call = notes[0]
    assert call["note_type"] == "call_in"
    assert call["params"]["duration"] == 125 and call["params"]["call_status"] == 4
    assert call["account_id"] == f.ACCOUNT_ID
    href = call["_links"]["self"]["href"]
    assert href == f"{API}/leads/{f.LEAD_WON}/notes/77000001"
    assert api.json(href)["id"] == 77000001
    assert api.ids("/api/v4/contacts/notes", "notes") == [77000003]
    assert api.ids(f"/api/v4/leads/{f.LEAD_WON}/notes", "notes") == [77000001, 77000004]
    assert api.json("/api/v4/leads/notes/77000002")["note_type"] == "call_out"
    assert_204(api.get("/api/v4/leads/notes/77000003"))  # a contact note
    params = {"filter[note_type][]": ["call_in", "call_out"], "order[updated_at]": "desc"}
    assert api.ids("/api/v4/leads/notes", "notes", params) == [77000002, 77000001]
    params = {"filter[entity_id]": str(f.LEAD_WON), "filter[updated_at]": str(f.T - 1000)}
    assert api.ids("/api/v4/leads/notes", "notes", params) == [77000004]


# -- dictionaries ------------------------------------------------------------------------------


def test_pipelines(api: Api) -> None:
    body = api.json("/api/v4/leads/pipelines")
    assert body["_total_items"] == 2
    assert "_page" not in body
    assert body["_links"]["self"]["href"] == f"{API}/leads/pipelines"
    sales, partners = body["_embedded"]["pipelines"]
    assert (sales["id"], partners["id"]) == (f.SALES, f.PARTNERS)
    assert sales["is_main"] is True and sales["account_id"] == f.ACCOUNT_ID
    statuses = sales["_embedded"]["statuses"]
    assert [s["id"] for s in statuses] == [f.INCOMING, f.CONTACTED, f.PROPOSAL, 142, 143]
    incoming = statuses[0]
    assert incoming["type"] == 1 and incoming["is_editable"] is False
    assert incoming["color"] == "#c1c1c1" and incoming["account_id"] == f.ACCOUNT_ID
    assert statuses[3]["_links"]["self"]["href"] == f"{API}/leads/pipelines/{f.SALES}/statuses/142"
    assert api.json(f"/api/v4/leads/pipelines/{f.PARTNERS}")["name"] == "Parcerias"
    listed = api.json(f"/api/v4/leads/pipelines/{f.PARTNERS}/statuses")
    assert listed["_total_items"] == 4
    assert [s["id"] for s in listed["_embedded"]["statuses"]] == [
        f.P2_INCOMING, f.P2_TALKING, 142, 143,
    ]  # fmt: skip
    won = api.json(f"/api/v4/leads/pipelines/{f.PARTNERS}/statuses/142")
    assert won["pipeline_id"] == f.PARTNERS
    assert_problem(api.get("/api/v4/leads/pipelines/1"), 404)
    assert_problem(api.get(f"/api/v4/leads/pipelines/{f.SALES}/statuses/1"), 404)


def test_loss_reasons(api: Api) -> None:
    body = api.json("/api/v4/leads/loss_reasons")
    assert body["_total_items"] == 2
    assert [r["id"] for r in body["_embedded"]["loss_reasons"]] == [f.TOO_EXPENSIVE, f.NO_ANSWER]
    one = api.json(f"/api/v4/leads/loss_reasons/{f.TOO_EXPENSIVE}")
    assert one["name"] == "Preço alto"
    assert one["_links"]["self"]["href"] == f"{API}/leads/loss_reasons/{f.TOO_EXPENSIVE}"


def test_custom_fields(api: Api) -> None:
    body = api.json("/api/v4/leads/custom_fields")
    fields = body["_embedded"]["custom_fields"]
    assert len(fields) == 10  # the contact field is not a lead field
    product = next(x for x in fields if x["id"] == f.PRODUCT_FIELD)
    assert product["enums"][0] == {"id": f.PREMIUM, "value": "Premium", "sort": 1}
    assert product["code"] is None and product["account_id"] == f.ACCOUNT_ID
    tracking = api.ids("/api/v4/leads/custom_fields", "custom_fields",
                       {"filter[type][]": "tracking_data", "order[sort]": "desc"})  # fmt: skip
    assert tracking[0] == 500108 and len(tracking) == 8
    typed = api.ids("/api/v4/leads/custom_fields", "custom_fields",
                    {"filter[type]": "select,numeric", "order[id]": "asc"})  # fmt: skip
    assert typed == [f.PRODUCT_FIELD, f.QUANTITY_FIELD]
    assert api.json(f"/api/v4/leads/custom_fields/{f.QUANTITY_FIELD}")["type"] == "numeric"
    assert_problem(api.get("/api/v4/leads/custom_fields", {"order[name]": "asc"}), 400)


def test_users(api: Api) -> None:
    body = api.json("/api/v4/users", {"limit": "2"})
    assert (body["_total_items"], body["_page"], body["_page_count"]) == (3, 1, 2)
    admin, seller = body["_embedded"]["users"]
    assert admin["rights"]["is_admin"] is True
    assert set(seller["rights"]["leads"]) == {"view", "edit", "add", "delete", "export"}
    assert {"tasks", "mail_access", "catalog_access", "status_rights"} <= set(seller["rights"])
    (former,) = api.items("/api/v4/users", "users", {"limit": "2", "page": "2"})
    rights = former["rights"]
    assert rights["is_active"] is False and rights["is_free"] is True
    assert (rights["group_id"], rights["role_id"]) == (10, 501)
    grouped = api.json(f"/api/v4/users/{f.SELLER}", {"with": "group"})
    assert grouped["_embedded"]["groups"] == [{"id": 10, "name": "Vendas"}]
    assert "_embedded" not in api.json(f"/api/v4/users/{f.SELLER}")


def test_account(api: Api) -> None:
    plain = api.json("/api/v4/account")
    assert plain["id"] == f.ACCOUNT_ID
    assert (plain["currency"], plain["currency_symbol"]) == ("BRL", "R$")
    assert "_embedded" not in plain and "amojo_id" not in plain
    body = api.json(
        "/api/v4/account",
        {"with": "datetime_settings,task_types,users_groups,amojo_id,uuid,version"},
    )
    assert (body["amojo_id"], body["uuid"], body["version"]) == (
        "amojo-0000-tiny", "uuid-0000-tiny", 2,
    )  # fmt: skip
    embedded = body["_embedded"]
    assert embedded["datetime_settings"]["timezone"] == "America/Sao_Paulo"
    assert embedded["datetime_settings"]["date_format"] == "d.m.Y"
    assert [t["code"] for t in embedded["task_types"]][:2] == ["FOLLOW_UP", "MEETING"]
    assert embedded["users_groups"][0] == {"id": 0, "name": "Equipe padrão", "uuid": None}


def test_unsorted_summary(api: Api) -> None:
    body = api.json("/api/v4/leads/unsorted/summary")
    assert body == {
        "total": 4,
        "accepted": 2,
        "declined": 1,
        "average_sort_time": 500,
        "categories": {
            "sip": {"total": 1}, "mail": {"total": 1}, "forms": {"total": 1},
            "chats": {"total": 1},
        },
    }  # fmt: skip
    sales = api.json("/api/v4/leads/unsorted/summary", {"filter[pipeline_id]": f.SALES})
    assert (sales["total"], sales["categories"]["mail"]["total"]) == (3, 0)
    recent = api.json(
        "/api/v4/leads/unsorted/summary",
        {"filter[created_at][from]": f.T - 6500, "filter[created_at][to]": f.T - 600},
    )
    assert (recent["total"], recent["declined"], recent["accepted"]) == (2, 1, 0)


def test_json_is_utf8_unescaped(api: Api) -> None:
    raw = api.get(f"/api/v4/leads/{f.LEAD_WON}").content
    assert "Formulário".encode() in raw
    assert json.loads(raw)["name"] == "Formulário do site #1"


# -- a generated account, paged end to end -----------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> Api:
    from kommo_analytics.emulator.generator import build_account

    now = 1_795_000_000  # 2026-11-18
    return Api(build_account(seed=1, scale="small", now=now), now=now)


def walk(api: Api, url: str, key: str, limit: int) -> list[Any]:
    """Follow `_links.next` from page 1 until a page without it or a 204."""

    async def go() -> list[Any]:
        found: list[Any] = []
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            next_url: str | None = f"{url}{'&' if '?' in url else '?'}limit={limit}"
            while next_url:
                response = await client.get(next_url)
                if response.status_code == 204:
                    break
                assert response.status_code == 200, response.text
                body = response.json()
                found += body["_embedded"][key]
                next_url = body["_links"].get("next", {}).get("href")
        return found

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("url", "key", "limit", "count_sql"),
    [
        ("/api/v4/users", "users", 250, "SELECT count(*) FROM users"),
        ("/api/v4/leads/custom_fields", "custom_fields", 250,
         "SELECT count(*) FROM custom_fields WHERE entity_type = 'leads'"),
        ("/api/v4/leads", "leads", 250,
         "SELECT count(*) FROM leads WHERE NOT coalesce(is_deleted, false)"),
        ("/api/v4/leads?with=only_deleted", "leads", 250,
         "SELECT count(*) FROM leads WHERE is_deleted"),
        ("/api/v4/contacts", "contacts", 250,
         "SELECT count(*) FROM contacts WHERE NOT coalesce(is_deleted, false)"),
        ("/api/v4/companies", "companies", 250,
         "SELECT count(*) FROM companies WHERE NOT coalesce(is_deleted, false)"),
        ("/api/v4/events", "events", 100, "SELECT count(*) FROM events"),
        ("/api/v4/tasks", "tasks", 250, "SELECT count(*) FROM tasks"),
        ("/api/v4/leads/notes", "notes", 250,
         "SELECT count(*) FROM notes WHERE entity_type = 'leads'"),
        ("/api/v4/contacts/notes", "notes", 250,
         "SELECT count(*) FROM notes WHERE entity_type = 'contacts'"),
    ],
)  # fmt: skip
def test_generated_account_served_in_full(
    generated: Api, url: str, key: str, limit: int, count_sql: str
) -> None:
    served = walk(generated, url, key, limit)
    ids = [item["id"] for item in served]
    assert len(ids) == len(set(ids))
    row = generated.state.store.cursor().execute(count_sql).fetchone()
    assert row is not None
    assert len(ids) == row[0]


def test_generated_dictionaries_served_in_full(generated: Api) -> None:
    cur = generated.state.store.cursor()

    def count(sql: str) -> int:
        row = cur.execute(sql).fetchone()
        assert row is not None
        return int(row[0])

    pipelines = generated.json("/api/v4/leads/pipelines")
    assert pipelines["_total_items"] == count("SELECT count(*) FROM pipelines")
    statuses = sum(len(p["_embedded"]["statuses"]) for p in pipelines["_embedded"]["pipelines"])
    assert statuses == count("SELECT count(*) FROM statuses")
    reasons = generated.items("/api/v4/leads/loss_reasons", "loss_reasons")
    assert len(reasons) == count("SELECT count(*) FROM loss_reasons")
    summary = generated.json("/api/v4/leads/unsorted/summary")
    assert summary["total"] == count("SELECT count(*) FROM unsorted")
