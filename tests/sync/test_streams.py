"""Each stream's declaration holds together: its mapper fills exactly its tables' columns, its
cursor is one the entity can filter (and, for keyset crawls, order) on, and the engine's
requests follow the declaration."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from kommo_analytics.kommo.client import Page
from kommo_analytics.kommo.entities import EVENTS, LEADS, TASKS
from kommo_analytics.sync.engine import SyncEngine, SyncOptions
from kommo_analytics.sync.records import Json
from kommo_analytics.sync.streams import STREAMS, Crawl, Stream, filter_field
from kommo_analytics.warehouse.loader import Row

LINK = "https://example.kommo.com/api/v4"

# Items shaped like real accounts' answers (docs/kommo-api.md §11), with every part a mapper
# reads: embedded contacts, companies, tags, source and loss reason; tracking fields.
LEAD: Json = {
    "id": 30011001, "name": "Website form #5821", "price": 1500, "responsible_user_id": 8100001,
    "group_id": 0, "status_id": 142, "pipeline_id": 7100001, "loss_reason_id": None,
    "created_by": 0, "updated_by": 8100001, "created_at": 1717400000, "updated_at": 1718200000,
    "closed_at": 1718200000, "closest_task_at": None, "is_deleted": False,
    "custom_fields_values": [
        {"field_id": 500101, "field_name": "utm_source", "field_code": "UTM_SOURCE",
         "field_type": "tracking_data", "values": [{"value": "google"}]},
        {"field_id": 500109, "field_name": "YCLID", "field_code": "YCLID",
         "field_type": "tracking_data", "values": [{"value": "y-42"}]},
        {"field_id": 612001, "field_name": "Product", "field_code": None, "field_type": "select",
         "values": [{"value": "Premium", "enum_id": 901, "enum_code": None}]},
    ],
    "score": None, "account_id": 31000001, "labor_cost": 0,
    "_links": {"self": {"href": f"{LINK}/leads/30011001"}},
    "_embedded": {
        "tags": [{"id": 4001, "name": "website", "color": None}],
        "companies": [{"id": 40033001}],
        "contacts": [{"id": 20022001, "is_main": True}],
        "source": {"id": 77, "name": "Site form"},
        "loss_reason": [],
    },
}  # fmt: skip
TRASHED_LEAD: Json = {
    "id": 30011009, "updated_at": 1718300000, "account_id": 31000001,
    "_links": {"self": {"href": f"{LINK}/leads/30011009"}},
}  # fmt: skip
CONTACT: Json = {
    "id": 20022001, "name": "Maria Souza", "first_name": "Maria", "last_name": "Souza",
    "responsible_user_id": 8100001, "group_id": 0, "created_by": 8100001,
    "updated_by": 8100001, "created_at": 1717400000, "updated_at": 1718200000,
    "closest_task_at": None, "is_deleted": False, "custom_fields_values": None,
    "account_id": 31000001,
    "_embedded": {"tags": [], "leads": [{"id": 30011001}], "companies": [{"id": 40033001}]},
}  # fmt: skip
TASK: Json = {
    "id": 5500001, "created_by": 8100001, "updated_by": 8100001, "created_at": 1718000000,
    "updated_at": 1718100000, "responsible_user_id": 8100001, "group_id": 0,
    "entity_id": 30011001, "entity_type": "leads", "duration": 0, "is_completed": True,
    "task_type_id": 1, "text": "Call back about pricing",
    "result": {"text": "Reached, sending proposal"}, "complete_till": 1718096400,
    "account_id": 31000001, "_links": {"self": {"href": f"{LINK}/tasks/5500001"}},
}  # fmt: skip
CALL_NOTE: Json = {
    "id": 91, "entity_id": 30011001, "created_by": 8100001, "updated_by": 8100001,
    "created_at": 1718000000, "updated_at": 1718000000, "responsible_user_id": 8100001,
    "group_id": 0, "note_type": "call_out", "account_id": 31000001,
    "params": {"uniq": "a1b2", "duration": 95, "source": "telephony", "link": "https://x/rec.mp3",
               "phone": "+5511999990000", "call_status": 4, "call_result": "Talked"},
}  # fmt: skip
STATUS_EVENT: Json = {
    "id": "01j0abcdxyz7k3m9q2w4e6r8t0", "type": "lead_status_changed", "entity_id": 30011001,
    "entity_type": "lead", "created_by": 8100001, "created_at": 1718200000,
    "value_after": [{"lead_status": {"id": 142, "pipeline_id": 7100001}}],
    "value_before": [{"lead_status": {"id": 61000003, "pipeline_id": 7100001}}],
    "account_id": 31000001,
}  # fmt: skip
DELETION_EVENT: Json = {
    "id": "01j0abce0000000000000000a2", "type": "lead_deleted", "entity_id": 30011009,
    "entity_type": "lead", "created_by": 8100001, "created_at": 1718300000,
    "value_after": [], "value_before": [], "account_id": 31000001,
}  # fmt: skip

# Per stream, items that between them reach every table the stream declares.
ITEMS: dict[str, list[Json]] = {
    "leads": [LEAD],
    "deleted_leads": [TRASHED_LEAD],
    "contacts": [CONTACT],
    "tasks": [TASK],
    "lead_calls": [CALL_NOTE],
    "contact_calls": [{**CALL_NOTE, "entity_id": 20022001, "note_type": "call_in"}],
    "events": [STATUS_EVENT, DELETION_EVENT],
}


def test_every_stream_has_items_here() -> None:
    assert set(ITEMS) == {s.name for s in STREAMS}


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.name)
def test_a_mapper_fills_exactly_its_tables_columns(stream: Stream) -> None:
    declared = {t.name: t for t in stream.tables}
    filled: set[str] = set()
    for item in ITEMS[stream.name]:
        for table, rows in stream.to_rows(item).items():
            assert table in declared, f"{stream.name} writes {table}, which it does not declare"
            for row in rows:
                assert list(row) == list(declared[table].column_names), table
                filled.add(table)
    assert filled == set(declared)


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.name)
def test_a_streams_cursor_filters_and_with_are_ones_the_entity_accepts(stream: Stream) -> None:
    entity = stream.entity
    assert stream.cursor == entity.cursor_field
    assert stream.cursor in entity.filters
    if stream.crawl is Crawl.KEYSET:
        assert stream.cursor in entity.order_fields
    assert {filter_field(key) for key in stream.filters} <= set(entity.filters)
    assert set(stream.with_) <= set(entity.allowed_with)


def test_the_structural_differences_are_in_the_declarations() -> None:
    by_name = {s.name: s for s in STREAMS}
    # Kommo cannot order tasks by updated_at, so they are not keyset-crawled.
    assert "updated_at" not in TASKS.order_fields and by_name["tasks"].crawl is Crawl.WINDOWS
    assert by_name["events"].cursor == EVENTS.cursor_field == "created_at"


def test_a_declaration_the_api_cannot_serve_is_refused() -> None:
    leads = next(s for s in STREAMS if s.name == "leads")
    unordered = dataclasses.replace(LEADS, order_fields=("id",))
    with pytest.raises(ValueError, match="cannot be ordered by updated_at"):
        dataclasses.replace(leads, entity=unordered)
    with pytest.raises(ValueError, match="cannot be filtered by score"):
        dataclasses.replace(leads, entity=dataclasses.replace(LEADS, cursor_field="score"))
    with pytest.raises(ValueError, match="has no with"):
        dataclasses.replace(leads, with_options=("everything",))
    with pytest.raises(ValueError, match="has no filter"):
        dataclasses.replace(leads, filters={"filter[note_type]": "call_in"})


# -- the engine's requests come from the declaration ------------------------------------------


class FakeClient:
    """Answers every request with one page of ``items`` and records the parameters."""

    def __init__(self, items: list[Json]) -> None:
        self.items = items
        self.sent: list[dict[str, str]] = []

    async def get_page(self, entity: Any, params: dict[str, str], page: int = 1) -> Page:
        self.sent.append(dict(params))
        return Page(self.items, False, page, None)

    async def pages(self, entity: Any, params: dict[str, str]) -> AsyncIterator[Page]:
        yield await self.get_page(entity, params)


class FakeWarehouse:
    def __init__(self) -> None:
        self.loads: list[dict[str, list[Row]]] = []

    def load(self, batches: dict[str, list[Row]]) -> None:
        self.loads.append({k: list(v) for k, v in batches.items()})

    def existing_ids(self, table: str, ids: Iterable[int]) -> set[int]:
        return set()

    def publish(self) -> None:
        pass


def _requests(stream: Stream, items: list[Json]) -> tuple[list[dict[str, str]], FakeWarehouse]:
    client, warehouse = FakeClient(items), FakeWarehouse()
    engine = SyncEngine(client, warehouse, SyncOptions(recheck_rounds=1))  # type: ignore[arg-type]
    t0 = 1_718_400_000
    asyncio.run(engine._stream(stream, {stream.name: t0 - 3600}, t0, t0 - 86400))
    return client.sent, warehouse


@pytest.mark.parametrize("crawl", list(Crawl))
def test_changing_the_cursor_field_changes_the_requests(crawl: Crawl) -> None:
    # A made-up entity whose cursor is created_at, crawled each way.
    entity = dataclasses.replace(LEADS, cursor_field="created_at", with_options=())
    stream = Stream("probe", entity, crawl, (), lambda item: {})
    sent, _ = _requests(stream, [{"id": 1, "created_at": 1_718_300_000}])
    assert sent
    for params in sent:
        assert "filter[created_at][from]" in params
        assert not any("updated_at" in key for key in params)
        assert ("order[created_at]" in params) is (crawl is Crawl.KEYSET)


def test_the_trash_and_deletion_events_become_one_latest_fact_per_lead() -> None:
    by_name = {s.name: s for s in STREAMS}
    restored = {**DELETION_EVENT, "id": "x2", "type": "lead_restored", "created_at": 1718300100}
    _, warehouse = _requests(by_name["events"], [restored, DELETION_EVENT, STATUS_EVENT])
    (facts,) = [load["lead_deletions"] for load in warehouse.loads if "lead_deletions" in load]
    assert [(f["lead_id"], f["is_deleted"], f["source"]) for f in facts] == [
        (30011009, False, "lead_restored")
    ]
    _, warehouse = _requests(by_name["deleted_leads"], [TRASHED_LEAD])
    (load,) = [load for load in warehouse.loads if "leads" in load]
    assert [r["id"] for r in load["leads"]] == [30011009]
    assert [f["source"] for f in load["lead_deletions"]] == ["trash"]


def test_events_are_crawled_only_of_the_types_something_reads() -> None:
    from kommo_analytics.model.build import CREATION_EVENT, MODEL_EVENT_TYPES
    from kommo_analytics.sync.records import DELETION_EVENTS
    from kommo_analytics.sync.streams import EVENT_TYPES

    (events,) = [s for s in STREAMS if s.crawl is Crawl.EVENTS]
    asked = events.span(0, 10)["filter[type]"].split(",")
    assert set(asked) == {*MODEL_EVENT_TYPES, *DELETION_EVENTS} == set(EVENT_TYPES)
    # Nothing reads a change of responsible user; creations are asked for by lead id instead.
    assert "entity_responsible_changed" not in asked and CREATION_EVENT not in asked
