"""`/api/v4/events` and `/api/v4/events/{id}` (docs/kommo-api.md §7.7, example §11.3)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

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
    in_ids,
    order_by,
    page_of,
    stage_pairs,
)
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import (
    COMPANIES,
    CONTACTS,
    EVENTS,
    EVENTS_FALLBACK_PAGE_SIZE,
    LEADS,
    TASKS,
)

_COLUMNS = "id, type, entity_id, entity_type, created_by, created_at, value_before, value_after"

# Events spell entity types in the singular (docs/kommo-api.md §9.8); these are the API paths of the
# entities an event can point at.
_ENTITY_PATHS: dict[str, str] = {
    "lead": LEADS.path,
    "contact": CONTACTS.path,
    "company": COMPANIES.path,
    "task": TASKS.path,
    "customer": "/customers",
}
_CATALOG = re.compile(r"catalog_([0-9]+)")
# `with=<entity>_name` puts the entity's name into `_embedded.entity`.
_NAME_SOURCES: dict[str, tuple[str, str]] = {
    "lead_name": ("lead", "leads"),
    "contact_name": ("contact", "contacts"),
    "company_name": ("company", "companies"),
}
# Filters limited to ten values by Kommo (docs/kommo-api.md §7.7).
_MAX_IDS = 10
# Where the value filters look inside an event's value_before/value_after.
_STAGE_PIPELINE = "$[0].lead_status.pipeline_id"
_STAGE_ID = "$[0].lead_status.id"
_RESPONSIBLE_ID = "$[0].responsible_user.id"

_FILTERS: dict[str, Filter] = {
    "id": Filter(Kind.STRINGS, "id"),
    "type": Filter(Kind.STRINGS, "type"),
    "created_by": Filter(Kind.INTS, "created_by", max_items=_MAX_IDS),
}
assert set(_FILTERS) <= set(EVENTS.filters)


def _entity_path(entity_type: str) -> str:
    catalog = _CATALOG.fullmatch(entity_type)
    if catalog:
        return f"/catalogs/{catalog.group(1)}/elements"
    return _ENTITY_PATHS.get(entity_type, f"/{entity_type}s")


def _entities(ctx: Ctx, where: Where) -> None:
    query = ctx.query
    entities = query.strings("filter", "entity")
    if entities is not None:
        for entity in entities:
            if entity not in _ENTITY_PATHS and not _CATALOG.fullmatch(entity):
                raise QueryError.invalid(
                    "filter[entity]",
                    f"The value you selected is not a valid choice ({entity!r}).",
                    "NotSupportedChoice",
                )
        where.any_of("entity_type", entities)
    entity_ids = query.ints("filter", "entity_id", max_items=_MAX_IDS)
    if entity_ids is not None:
        if entities is None or len(entities) != 1:
            raise QueryError.invalid(
                "filter[entity_id]",
                "filter[entity_id] requires exactly one filter[entity].",
                "NotSupportedChoice",
            )
        where.any_of("entity_id", entity_ids)


def _created_at(ctx: Ctx, where: Where) -> None:
    bounds = ctx.query.int_range("filter", "created_at", comma_pair=True)
    if bounds is None:
        return
    if bounds.lo is not None:
        where.add("created_at >= ?", bounds.lo)
    # A single timestamp means "from then until now" (docs/kommo-api.md §7.7).
    upper = ctx.now if bounds.single else bounds.hi
    if upper is not None:
        where.add("created_at <= ?", upper)


def _value_filters(ctx: Ctx, where: Where) -> None:
    """``filter[value_before|value_after][...]``: the documented stage and responsible filters.

    UNCERTAIN (docs/kommo-api.md §7.7): the other value filters (`custom_field_values`, `value`) are
    not emulated and are ignored.
    """
    for side in ("value_before", "value_after"):
        section = ctx.query.node("filter", side)
        if section is None or section == "":
            continue
        if not isinstance(section, dict):
            raise QueryError.invalid(f"filter[{side}]", "This value should be an array.")
        pairs = stage_pairs(ctx.query, "filter", side, "leads_statuses")
        if pairs:
            # `side` is one of two literals, never client text; the JSON paths, like every
            # literal, are parameters (see emulator/sql.py).
            match = (
                f"(TRY_CAST({side} ->> ? AS BIGINT) = ? AND TRY_CAST({side} ->> ? AS BIGINT) = ?)"
            )
            params: list[object] = []
            for pipeline_id, status_id in zip(pairs[::2], pairs[1::2], strict=True):
                params += [_STAGE_PIPELINE, pipeline_id, _STAGE_ID, status_id]
            where.add(
                f"type = ? AND ({' OR '.join([match] * (len(pairs) // 2))})",
                "lead_status_changed",
                *params,
            )
        users = ctx.query.ints("filter", side, "responsible_user_id")
        if users is not None:
            where.add(
                f"type = ? AND TRY_CAST({side} ->> ? AS BIGINT) = ANY(?)",
                "entity_responsible_changed",
                _RESPONSIBLE_ID,
                users,
            )


def _names(ctx: Ctx, rows: list[Row], with_: frozenset[str]) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {}
    for option, (entity_type, table) in _NAME_SOURCES.items():
        if option not in with_:
            continue
        ids = [row["entity_id"] for row in rows if row["entity_type"] == entity_type]
        if not ids:
            continue
        clause, params = in_ids("id", ids)
        sql = compose("SELECT id, name FROM {table} WHERE {clause}", table=table, clause=clause)
        for found in ctx.rows(sql, params):
            names[entity_type, found["id"]] = found["name"]
    return names


def _json_array(text: str | None) -> object:
    return [] if text is None else json.loads(text)


def render_events(ctx: Ctx, rows: list[Row], with_: frozenset[str]) -> list[Json]:
    names = _names(ctx, rows, with_)
    rendered = []
    for row in rows:
        entity: Json = ctx.stub(_entity_path(row["entity_type"]), row["entity_id"])
        name = names.get((row["entity_type"], row["entity_id"]))
        if name is not None:
            entity["name"] = name
        rendered.append(
            {
                "id": row["id"],
                "type": row["type"],
                "entity_id": row["entity_id"],
                "entity_type": row["entity_type"],
                "created_by": row["created_by"],
                "created_at": row["created_at"],
                "value_after": _json_array(row["value_after"]),
                "value_before": _json_array(row["value_before"]),
                "account_id": ctx.account_id,
                "_links": ctx.links(f"{EVENTS.path}/{row['id']}"),
                "_embedded": {"entity": entity},
            }
        )
    return rendered


def _list(ctx: Ctx) -> Response:
    query = ctx.query
    with_ = query.with_(EVENTS.allowed_with)
    # Above 100 Kommo silently serves 50 rows (docs/kommo-api.md §5, §9.12).
    page = page_of(query, EVENTS, over_limit_fallback=EVENTS_FALLBACK_PAGE_SIZE)
    where = Where()
    apply_filters(query, where, _FILTERS)
    _entities(ctx, where)
    _created_at(ctx, where)
    _value_filters(ctx, where)
    # UNCERTAIN (docs/kommo-api.md §5, §12.4): events document no `order`, so any order[...] is
    # refused (a client relying on one would break on the real API); newest first, then
    # insertion order, is assumed as the default.
    order = order_by(query, EVENTS.order_fields, "created_at DESC, seq DESC", tie="seq")
    rows = fetch_page(ctx, columns=_COLUMNS, table="events", where=where, order=order, page=page)
    return collection(ctx, EVENTS.embedded_key, render_events(ctx, rows, with_), page)


def _one(ctx: Ctx) -> Response:
    rows: Sequence[Row] = ctx.rows(
        compose("SELECT {columns} FROM events WHERE id = ?", columns=_COLUMNS),
        [ctx.request.path_params["id"]],
    )
    items = render_events(ctx, list(rows), ctx.query.with_(EVENTS.allowed_with))
    return entity_or_204(items[0] if items else None)


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [get(state, EVENTS.path, _list), get(state, f"{EVENTS.path}/{{id}}", _one)]
