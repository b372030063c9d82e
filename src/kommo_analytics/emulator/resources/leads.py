"""`/api/v4/leads` and `/api/v4/leads/{id}` (docs/kommo-api.md §7.2, example §11.1)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute

from kommo_analytics.emulator.resources.common import (
    Ctx,
    Filter,
    Json,
    Kind,
    Row,
    Single,
    Where,
    apply_filters,
    collection,
    entity_or_204,
    fetch_page,
    get,
    in_ids,
    order_by,
    page_of,
    render_tags,
    repeat_list_query,
    stage_pairs,
    tags_by_id,
)
from kommo_analytics.emulator.schema import TRACKING_COLUMNS
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import COMPANIES, CONTACTS, LEADS, LOSS_REASONS

# The two non-tracking custom fields the generator stores as lead columns; they have no code, so
# they are found by name (docs/kommo-api.md §7.11: "match by code first, then name").
PRODUCT_FIELD_NAME = "Produto"
QUANTITY_FIELD_NAME = "Quantidade"

_COLUMNS = (
    "id, name, price, responsible_user_id, group_id, status_id, pipeline_id, loss_reason_id, "
    "source_id, created_by, updated_by, created_at, updated_at, closed_at, closest_task_at, "
    "is_deleted, score, labor_cost, product_enum_id, quantity, company_id, tag_ids, "
    + ", ".join(TRACKING_COLUMNS.values())
)
# UNCERTAIN (docs/kommo-api.md §7.2): `with=only_deleted` shows the modification time; the moment
# the lead went to the trash is taken as that time.
_DELETED_UPDATED_AT = "coalesce(deleted_at, updated_at)"
_DELETED_COLUMNS = f"id, {_DELETED_UPDATED_AT} AS updated_at"


def _filters(updated_at: str) -> dict[str, Filter]:
    spec = {
        "id": Filter(Kind.INTS, "id"),
        "name": Filter(Kind.TEXTS, "name"),
        "price": Filter(Kind.RANGE, "price", Single.EXACT),
        "created_by": Filter(Kind.INTS, "created_by"),
        "updated_by": Filter(Kind.INTS, "updated_by"),
        "responsible_user_id": Filter(Kind.INTS, "responsible_user_id"),
        # UNCERTAIN (docs/kommo-api.md §7.2): a single timestamp instead of [from]/[to] is read as
        # "from then on", as the events and tasks filters document it.
        "created_at": Filter(Kind.RANGE, "created_at"),
        "updated_at": Filter(Kind.RANGE, updated_at),
        "closed_at": Filter(Kind.RANGE, "closed_at"),
        "closest_task_at": Filter(Kind.RANGE, "closest_task_at"),
        "pipeline_id": Filter(Kind.INTS, "pipeline_id"),
    }
    assert set(spec) <= set(LEADS.filters)
    return spec


_LIVE_FILTERS = _filters("updated_at")
_DELETED_FILTERS = _filters(_DELETED_UPDATED_AT)


@dataclass(frozen=True)
class _FieldValue:
    """How one lead custom field is rendered from the lead row."""

    sort: tuple[int, int]
    head: Json  # field_id, field_name, field_code, field_type
    value: Callable[[Row], list[Json] | None]


def _custom_fields(ctx: Ctx, extra: dict[tuple[int, int], str]) -> list[_FieldValue]:
    """The account's lead fields the store holds values for, in the account's field order.

    Field ids differ per account, so tracking fields are looked up by code, the rest by name.
    `extra` holds the page's values of the other tracking fields, by (lead id, field id).
    """
    defs = ctx.rows(
        "SELECT id, name, code, type, sort, enums FROM custom_fields "
        "WHERE entity_type = ? ORDER BY sort, id",
        [LEADS.entity_type],
    )
    fields: list[_FieldValue] = []

    def head(row: Row) -> Json:
        return {
            "field_id": row["id"],
            "field_name": row["name"],
            "field_code": row["code"],
            "field_type": row["type"],
        }

    def text(column: str) -> Callable[[Row], list[Json] | None]:
        return lambda lead: None if lead[column] is None else [{"value": lead[column]}]

    by_code = {row["code"]: row for row in defs if row["code"]}
    for code, column in TRACKING_COLUMNS.items():
        if code in by_code:
            row = by_code[code]
            fields.append(_FieldValue((row["sort"], row["id"]), head(row), text(column)))

    for row in defs:
        if row["type"] == "tracking_data" and row["code"] not in TRACKING_COLUMNS:

            def tracked(lead: Row, field_id: int = row["id"]) -> list[Json] | None:
                value = extra.get((lead["id"], field_id))
                return None if value is None else [{"value": value}]

            fields.append(_FieldValue((row["sort"], row["id"]), head(row), tracked))

    by_name = {row["name"]: row for row in defs if not row["code"]}
    if PRODUCT_FIELD_NAME in by_name:
        row = by_name[PRODUCT_FIELD_NAME]
        served = json.loads(row["enums"] or "[]")
        # Served as a list or as an object keyed by index (see generator/setup.py).
        items = served.values() if isinstance(served, dict) else served
        enums = {int(e["id"]): e["value"] for e in items}

        def product(lead: Row) -> list[Json] | None:
            enum_id = lead["product_enum_id"]
            if enum_id is None:
                return None
            return [{"value": enums.get(enum_id), "enum_id": enum_id, "enum_code": None}]

        fields.append(_FieldValue((row["sort"], row["id"]), head(row), product))
    if QUANTITY_FIELD_NAME in by_name:
        row = by_name[QUANTITY_FIELD_NAME]

        def quantity(lead: Row) -> list[Json] | None:
            # Numeric custom-field values travel as strings (docs/kommo-api.md §3).
            return None if lead["quantity"] is None else [{"value": str(lead["quantity"])}]

        fields.append(_FieldValue((row["sort"], row["id"]), head(row), quantity))
    fields.sort(key=lambda field: field.sort)
    return fields


def _contacts_of(ctx: Ctx, lead_ids: Sequence[int]) -> dict[int, list[Json]]:
    # A contact in the trash is no longer linked on the wire. The anti-join builds on the few
    # deleted contacts only, so it stays cheap on big accounts; `= ANY` measured faster than
    # list_contains in this plan.
    rows = ctx.rows(
        "SELECT lc.lead_id, lc.contact_id, lc.is_main FROM lead_contacts lc "
        "WHERE lc.lead_id = ANY(?) AND NOT EXISTS "
        "(SELECT 1 FROM contacts c WHERE c.id = lc.contact_id AND c.is_deleted) "
        "ORDER BY lc.lead_id, lc.is_main DESC, lc.contact_id",
        [sorted(set(lead_ids))],
    )
    linked: dict[int, list[Json]] = {}
    for row in rows:
        stub = ctx.stub(CONTACTS.path, row["contact_id"])
        linked.setdefault(row["lead_id"], []).append(
            {"id": stub["id"], "is_main": bool(row["is_main"]), "_links": stub["_links"]}
        )
    return linked


def _by_id(ctx: Ctx, table: str, columns: str, ids: Sequence[int | None]) -> dict[int, Row]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    clause, params = in_ids("id", wanted)
    sql = compose(
        "SELECT {columns} FROM {table} WHERE {clause}", columns=columns, table=table, clause=clause
    )
    return {row["id"]: row for row in ctx.rows(sql, params)}


def render_leads(ctx: Ctx, rows: list[Row], with_: frozenset[str]) -> list[Json]:
    """Render one page of lead rows; every related table is read once for the whole page."""
    if not rows:
        return []
    clause, params = in_ids("lead_id", [row["id"] for row in rows])
    extra = {
        (r["lead_id"], r["field_id"]): r["value"]
        for r in ctx.rows(
            compose(
                "SELECT lead_id, field_id, value FROM lead_tracking WHERE {clause}", clause=clause
            ),
            params,
        )
    }
    fields = _custom_fields(ctx, extra)
    tags = tags_by_id(ctx, (row["tag_ids"] for row in rows))
    contacts = _contacts_of(ctx, [row["id"] for row in rows]) if "contacts" in with_ else {}
    reasons = (
        _by_id(
            ctx,
            "loss_reasons",
            "id, name, sort, created_at, updated_at",
            [row["loss_reason_id"] for row in rows],
        )
        if "loss_reason" in with_
        else {}
    )
    sources = (
        _by_id(ctx, "sources", "id, name", [row["source_id"] for row in rows])
        if "source" in with_
        else {}
    )
    rendered = []
    for row in rows:
        lead: Json = {
            "id": row["id"],
            "name": row["name"],
            "price": row["price"],
            "responsible_user_id": row["responsible_user_id"],
            "group_id": row["group_id"],
            "status_id": row["status_id"],
            "pipeline_id": row["pipeline_id"],
            "loss_reason_id": row["loss_reason_id"],
        }
        if "source_id" in with_:
            lead["source_id"] = row["source_id"]
        lead.update(
            {
                "created_by": row["created_by"],
                "updated_by": row["updated_by"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "closed_at": row["closed_at"],
                "closest_task_at": row["closest_task_at"],
                "is_deleted": bool(row["is_deleted"]),
            }
        )
        if "is_price_modified_by_robot" in with_:
            lead["is_price_modified_by_robot"] = False
        values = []
        for field in fields:
            field_values = field.value(row)
            if field_values is not None:
                values.append({**field.head, "values": field_values})
        lead["custom_fields_values"] = values or None
        lead["score"] = row["score"]
        lead["account_id"] = ctx.account_id
        lead["labor_cost"] = row["labor_cost"]
        lead["_links"] = ctx.links(f"{LEADS.path}/{row['id']}")
        embedded: Json = {
            "tags": render_tags(row["tag_ids"], tags),
            "companies": (
                [] if row["company_id"] is None else [ctx.stub(COMPANIES.path, row["company_id"])]
            ),
        }
        if "contacts" in with_:
            embedded["contacts"] = contacts.get(row["id"], [])
        if "loss_reason" in with_:
            reason = reasons.get(row["loss_reason_id"]) if row["loss_reason_id"] else None
            embedded["loss_reason"] = (
                []
                if reason is None
                else [{**reason, "_links": ctx.links(f"{LOSS_REASONS.path}/{reason['id']}")}]
            )
        # UNCERTAIN (docs/kommo-api.md §7.2): a lead without a source gets no `source` key at all.
        if "source" in with_ and row["source_id"] in sources:
            source = sources[row["source_id"]]
            embedded["source"] = {"id": source["id"], "name": source["name"]}
        if "catalog_elements" in with_:
            embedded["catalog_elements"] = []
        lead["_embedded"] = embedded
        rendered.append(lead)
    return rendered


def _render_deleted(ctx: Ctx, rows: list[Row]) -> list[Json]:
    return [
        {
            "id": row["id"],
            "updated_at": row["updated_at"],
            "is_deleted": True,
            "_links": ctx.links(f"{LEADS.path}/{row['id']}"),
        }
        for row in rows
    ]


def _statuses(ctx: Ctx, where: Where) -> None:
    pairs = stage_pairs(ctx.query, "filter", "statuses")
    if not pairs:
        return
    where.add(" OR ".join(["(pipeline_id = ? AND status_id = ?)"] * (len(pairs) // 2)), *pairs)


def _list(ctx: Ctx) -> Response:
    query = ctx.query
    with_ = query.with_(LEADS.allowed_with)
    deleted = "only_deleted" in with_
    page = page_of(query, LEADS)
    where = Where("is_deleted" if deleted else "NOT coalesce(is_deleted, false)")
    apply_filters(query, where, _DELETED_FILTERS if deleted else _LIVE_FILTERS)
    _statuses(ctx, where)
    text = query.text("query")
    if text is not None:
        # Free-text search: the name, or the id when the text is a number.
        clause = "contains(lower(name), lower(?))"
        if text.strip().isdigit() and len(text.strip()) < 19:
            where.add(f"{clause} OR id = ?", text, int(text.strip()))
        else:
            where.add(clause, text)
    # UNCERTAIN (docs/kommo-api.md §5): the default order is undocumented; id ascending is assumed.
    order = order_by(
        query,
        LEADS.order_fields,
        "id ASC",
        columns={"updated_at": _DELETED_UPDATED_AT} if deleted else None,
    )
    rows = fetch_page(
        ctx,
        columns=_DELETED_COLUMNS if deleted else _COLUMNS,
        table="leads",
        where=where,
        order=order,
        page=page,
    )
    if deleted:
        items = _render_deleted(ctx, rows)
    else:
        items = render_leads(ctx, rows, with_)
        repeat_list_query(ctx, items, LEADS.path, page)
    return collection(ctx, LEADS.embedded_key, items, page)


def _one(ctx: Ctx) -> Response:
    with_ = ctx.query.with_(LEADS.allowed_with)
    rows = ctx.rows(
        compose(
            "SELECT {columns} FROM leads WHERE id = ? AND NOT coalesce(is_deleted, false)",
            columns=_COLUMNS,
        ),
        [ctx.path_int("id")],
    )
    # UNCERTAIN (docs/kommo-api.md §5): a missing or deleted lead answers 204, as clients expect.
    items = render_leads(ctx, rows, with_)
    return entity_or_204(items[0] if items else None)


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [
        get(state, LEADS.path, _list),
        get(state, f"{LEADS.path}/{{id:int}}", _one),
    ]
