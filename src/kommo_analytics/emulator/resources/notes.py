"""Notes: `/api/v4/{leads|contacts}/notes`, `/{entity}/{id}/notes`, `/{entity}/notes/{note_id}`
and `/{entity}/{id}/notes/{note_id}` (docs/kommo-api.md §7.8)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.responses import Response
from starlette.routing import BaseRoute

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
from kommo_analytics.kommo.entities import CONTACT_NOTES, LEAD_NOTES, Entity

_COLUMNS = (
    "id, entity_id, created_by, updated_by, created_at, updated_at, responsible_user_id, "
    "group_id, note_type, params"
)
_FILTERS: dict[str, Filter] = {
    "id": Filter(Kind.INTS, "id"),
    "entity_id": Filter(Kind.INTS, "entity_id"),
    "note_type": Filter(Kind.STRINGS, "note_type"),
    # UNCERTAIN (docs/kommo-api.md §7.8): a single timestamp is read as "updated since", like tasks.
    "updated_at": Filter(Kind.RANGE, "updated_at"),
}


def _render(ctx: Ctx, parent: str, leaf: str, row: Row) -> Json:
    return {
        "id": row["id"],
        "entity_id": row["entity_id"],
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "responsible_user_id": row["responsible_user_id"],
        "group_id": row["group_id"],
        "note_type": row["note_type"],
        "params": {} if row["params"] is None else json.loads(row["params"]),
        "account_id": ctx.account_id,
        # UNCERTAIN (docs/kommo-api.md §7.8): amoCRM's examples link a note under its parent entity.
        "_links": ctx.links(f"{parent}/{row['entity_id']}/{leaf}/{row['id']}"),
    }


def _handlers(entity: Entity) -> dict[str, Callable[[Ctx], Response]]:
    assert set(_FILTERS) <= set(entity.filters)
    # "/leads/notes" -> "/leads" (the parent entity's path) and "notes".
    parent, leaf = entity.path.rsplit("/", 1)
    base = Where("entity_type = ?")
    base.params.append(entity.entity_type)

    def list_(ctx: Ctx, entity_id: int | None = None) -> Response:
        query = ctx.query
        page = page_of(query, entity)
        where = Where(*base.clauses)
        where.params.extend(base.params)
        if entity_id is not None:
            where.add("entity_id = ?", entity_id)
        apply_filters(query, where, _FILTERS)
        # UNCERTAIN (docs/kommo-api.md §5): the default order is undocumented; id ascending is
        # assumed.
        order = order_by(query, entity.order_fields, "id ASC")
        rows = fetch_page(ctx, columns=_COLUMNS, table="notes", where=where, order=order, page=page)
        return collection(
            ctx, entity.embedded_key, [_render(ctx, parent, leaf, row) for row in rows], page
        )

    def one(ctx: Ctx, entity_id: int | None = None) -> Response:
        where = Where(*base.clauses)
        where.params.extend(base.params)
        where.add("id = ?", ctx.path_int("note_id"))
        if entity_id is not None:
            where.add("entity_id = ?", entity_id)
        sql = compose(
            "SELECT {columns} FROM notes WHERE {where}", columns=_COLUMNS, where=where.sql()
        )
        row = ctx.one(sql, where.params)
        return entity_or_204(None if row is None else _render(ctx, parent, leaf, row))

    return {
        entity.path: list_,
        f"{parent}/{{entity_id:int}}/{leaf}": lambda ctx: list_(ctx, ctx.path_int("entity_id")),
        f"{entity.path}/{{note_id:int}}": one,
        f"{parent}/{{entity_id:int}}/{leaf}/{{note_id:int}}": (
            lambda ctx: one(ctx, ctx.path_int("entity_id"))
        ),
    }


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [
        get(state, path, handler)
        for entity in (LEAD_NOTES, CONTACT_NOTES)
        for path, handler in _handlers(entity).items()
    ]
