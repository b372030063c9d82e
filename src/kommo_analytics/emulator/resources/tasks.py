"""`/api/v4/tasks` and `/api/v4/tasks/{id}` (docs/kommo-api.md §7.6, example §11.4)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from kommo_analytics.emulator.query import QueryError
from kommo_analytics.emulator.resources.common import (
    Ctx,
    Filter,
    Json,
    Kind,
    Row,
    Where,
    apply_filters,
    collection,
    entity_or_204,
    fetch_page,
    get,
    order_by,
    page_of,
)
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import TASKS

_COLUMNS = (
    "id, created_by, updated_by, created_at, updated_at, responsible_user_id, group_id, "
    "entity_id, entity_type, duration, is_completed, task_type_id, text, result_text, "
    "complete_till"
)
# Tasks spell entity types in the plural (docs/kommo-api.md §7.6).
_ENTITY_TYPES = ("leads", "contacts", "companies", "customers")

_FILTERS: dict[str, Filter] = {
    "id": Filter(Kind.INTS, "id"),
    "responsible_user_id": Filter(Kind.INTS, "responsible_user_id"),
    "created_by": Filter(Kind.INTS, "created_by"),
    "is_completed": Filter(Kind.BOOL, "is_completed"),
    # The SDK sends the type under both names (docs/kommo-api.md §7.6).
    "task_type": Filter(Kind.INTS, "task_type_id"),
    "task_type_id": Filter(Kind.INTS, "task_type_id"),
    # A single timestamp means "updated after" (docs/kommo-api.md §7.6).
    # UNCERTAIN: taken as inclusive, so an incremental sync re-reads its boundary second.
    "updated_at": Filter(Kind.RANGE, "updated_at"),
}
assert set(_FILTERS) <= set(TASKS.filters)


def _entity(ctx: Ctx, where: Where) -> None:
    entity_types = ctx.query.strings("filter", "entity_type")
    if entity_types is not None:
        for entity_type in entity_types:
            if entity_type not in _ENTITY_TYPES:
                raise QueryError.invalid(
                    "filter[entity_type]",
                    f"The value you selected is not a valid choice ({entity_type!r}).",
                    "NotSupportedChoice",
                )
        where.any_of("entity_type", entity_types)
    entity_ids = ctx.query.ints("filter", "entity_id")
    if entity_ids is not None:
        if entity_types is None:
            raise QueryError.invalid(
                "filter[entity_id]", "filter[entity_id] requires filter[entity_type].", "NotBlank"
            )
        where.any_of("entity_id", entity_ids)


def render_task(ctx: Ctx, row: Row) -> Json:
    return {
        "id": row["id"],
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "responsible_user_id": row["responsible_user_id"],
        "group_id": row["group_id"],
        "entity_id": row["entity_id"],
        "entity_type": row["entity_type"],
        "duration": row["duration"],
        "is_completed": bool(row["is_completed"]),
        "task_type_id": row["task_type_id"],
        "text": row["text"],
        # PHP serialises an empty result as an empty array (docs/kommo-api.md §3).
        "result": [] if row["result_text"] is None else {"text": row["result_text"]},
        "complete_till": row["complete_till"],
        "account_id": ctx.account_id,
        "_links": ctx.links(f"{TASKS.path}/{row['id']}"),
    }


def _list(ctx: Ctx) -> Response:
    query = ctx.query
    page = page_of(query, TASKS)
    where = Where()
    apply_filters(query, where, _FILTERS)
    _entity(ctx, where)
    # UNCERTAIN (docs/kommo-api.md §5): the default order is undocumented; id ascending is assumed.
    order = order_by(query, TASKS.order_fields, "id ASC")
    rows = fetch_page(ctx, columns=_COLUMNS, table="tasks", where=where, order=order, page=page)
    return collection(ctx, TASKS.embedded_key, [render_task(ctx, row) for row in rows], page)


def _one(ctx: Ctx) -> Response:
    row = ctx.one(
        compose("SELECT {columns} FROM tasks WHERE id = ?", columns=_COLUMNS), [ctx.path_int("id")]
    )
    return entity_or_204(None if row is None else render_task(ctx, row))


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [get(state, TASKS.path, _list), get(state, f"{TASKS.path}/{{id:int}}", _one)]
