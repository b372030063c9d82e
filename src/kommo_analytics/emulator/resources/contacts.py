"""`/api/v4/contacts` and `/api/v4/companies` (+ `/{id}`) (docs/kommo-api.md §7.9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    in_ids,
    order_by,
    page_of,
    render_tags,
    repeat_list_query,
    tags_by_id,
)
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import COMPANIES, CONTACTS, LEADS, Entity

_NOT_DELETED = "NOT coalesce(is_deleted, false)"
_CONTACT_COLUMNS = (
    "id, name, first_name, last_name, responsible_user_id, group_id, created_by, updated_by, "
    "created_at, updated_at, closest_task_at, is_deleted, company_id, tag_ids"
)
_COMPANY_COLUMNS = (
    "id, name, responsible_user_id, group_id, created_by, updated_by, created_at, updated_at, "
    "closest_task_at, is_deleted"
)


def _filters(entity: Entity) -> dict[str, Filter]:
    # Same set for contacts and companies (docs/kommo-api.md §7.9); ranges take a single timestamp
    # as "from then on", like leads.
    kinds = {
        "id": Kind.INTS,
        "name": Kind.TEXTS,
        "created_by": Kind.INTS,
        "updated_by": Kind.INTS,
        "responsible_user_id": Kind.INTS,
        "created_at": Kind.RANGE,
        "updated_at": Kind.RANGE,
        "closest_task_at": Kind.RANGE,
    }
    return {name: Filter(kinds[name], name) for name in entity.filters}


def _leads_of_contacts(ctx: Ctx, contact_ids: Sequence[int]) -> dict[int, list[Json]]:
    clause, params = in_ids("lc.contact_id", contact_ids)
    # Leads in the trash are unlinked on the wire.
    rows = ctx.rows(
        compose(
            "SELECT lc.contact_id AS owner, lc.lead_id FROM lead_contacts lc "
            "WHERE {clause} AND NOT EXISTS "
            "(SELECT 1 FROM leads l WHERE l.id = lc.lead_id AND l.is_deleted) "
            "ORDER BY lc.contact_id, lc.lead_id",
            clause=clause,
        ),
        params,
    )
    return _group(ctx, rows, LEADS.path, "lead_id")


def _owned_by(table: str, clause: str) -> str:
    """The live rows of `table` (leads or contacts) whose company passes `clause`."""
    return compose(
        "SELECT company_id AS owner, id FROM {table} WHERE {clause} AND {live} "
        "ORDER BY company_id, id",
        table=table,
        clause=clause,
        live=_NOT_DELETED,
    )


def _group(ctx: Ctx, rows: list[Row], path: str, column: str) -> dict[int, list[Json]]:
    grouped: dict[int, list[Json]] = {}
    for row in rows:
        grouped.setdefault(row["owner"], []).append(ctx.stub(path, row[column]))
    return grouped


def _render_contacts(ctx: Ctx, rows: list[Row], with_: frozenset[str]) -> list[Json]:
    if not rows:
        return []
    tags = tags_by_id(ctx, (row["tag_ids"] for row in rows))
    leads = _leads_of_contacts(ctx, [row["id"] for row in rows]) if "leads" in with_ else {}
    rendered = []
    for row in rows:
        embedded: Json = {
            "tags": render_tags(row["tag_ids"], tags),
            "companies": (
                [] if row["company_id"] is None else [ctx.stub(COMPANIES.path, row["company_id"])]
            ),
        }
        if "leads" in with_:
            embedded["leads"] = leads.get(row["id"], [])
        rendered.append(
            {
                "id": row["id"],
                "name": row["name"],
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "responsible_user_id": row["responsible_user_id"],
                "group_id": row["group_id"],
                "created_by": row["created_by"],
                "updated_by": row["updated_by"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "closest_task_at": row["closest_task_at"],
                "is_deleted": bool(row["is_deleted"]),
                "is_unsorted": False,
                # The store keeps no contact field values (phones, e-mails): null, as Kommo sends
                # for an entity without values.
                "custom_fields_values": None,
                "account_id": ctx.account_id,
                "_links": ctx.links(f"{CONTACTS.path}/{row['id']}"),
                "_embedded": embedded,
            }
        )
    return rendered


def _render_companies(ctx: Ctx, rows: list[Row], with_: frozenset[str]) -> list[Json]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    leads: dict[int, list[Json]] = {}
    contacts: dict[int, list[Json]] = {}
    if "leads" in with_:
        clause, params = in_ids("company_id", ids)
        leads = _group(
            ctx,
            ctx.rows(_owned_by("leads", clause), params),
            LEADS.path,
            "id",
        )
    if "contacts" in with_:
        clause, params = in_ids("company_id", ids)
        contacts = _group(
            ctx,
            ctx.rows(_owned_by("contacts", clause), params),
            CONTACTS.path,
            "id",
        )
    rendered = []
    for row in rows:
        # The store keeps no company tags.
        embedded: Json = {"tags": []}
        if "leads" in with_:
            embedded["leads"] = leads.get(row["id"], [])
        if "contacts" in with_:
            embedded["contacts"] = contacts.get(row["id"], [])
        rendered.append(
            {
                "id": row["id"],
                "name": row["name"],
                "responsible_user_id": row["responsible_user_id"],
                "group_id": row["group_id"],
                "created_by": row["created_by"],
                "updated_by": row["updated_by"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                "closest_task_at": row["closest_task_at"],
                "is_deleted": bool(row["is_deleted"]),
                "custom_fields_values": None,
                "account_id": ctx.account_id,
                "_links": ctx.links(f"{COMPANIES.path}/{row['id']}"),
                "_embedded": embedded,
            }
        )
    return rendered


Renderer = Callable[[Ctx, list[Row], frozenset[str]], list[Json]]


def _handlers(
    entity: Entity, table: str, columns: str, render: Renderer
) -> tuple[Callable[[Ctx], Response], Callable[[Ctx], Response]]:
    spec = _filters(entity)

    def list_(ctx: Ctx) -> Response:
        query = ctx.query
        with_ = query.with_(entity.allowed_with)
        page = page_of(query, entity)
        deleted = "only_deleted" in with_
        where = Where("is_deleted" if deleted else _NOT_DELETED)
        apply_filters(query, where, spec)
        text = query.text("query")
        if text is not None:
            where.add("contains(lower(name), lower(?))", text)
        # UNCERTAIN (docs/kommo-api.md §5): the default order is undocumented; id ascending is
        # assumed.
        order = order_by(query, entity.order_fields, "id ASC")
        rows = fetch_page(ctx, columns=columns, table=table, where=where, order=order, page=page)
        if deleted:
            # UNCERTAIN (docs/kommo-api.md §7.2, by analogy with leads): minimal fields only.
            items = [
                {
                    "id": row["id"],
                    "updated_at": row["updated_at"],
                    "is_deleted": True,
                    "_links": ctx.links(f"{entity.path}/{row['id']}"),
                }
                for row in rows
            ]
        else:
            items = render(ctx, rows, with_)
        if entity is CONTACTS:
            repeat_list_query(ctx, items, entity.path, page)
        return collection(ctx, entity.embedded_key, items, page)

    def one(ctx: Ctx) -> Response:
        rows = ctx.rows(
            compose(
                "SELECT {columns} FROM {table} WHERE id = ? AND {live}",
                columns=columns,
                table=table,
                live=_NOT_DELETED,
            ),
            [ctx.path_int("id")],
        )
        items = render(ctx, rows, ctx.query.with_(entity.allowed_with))
        return entity_or_204(items[0] if items else None)

    return list_, one


def routes(state: EmulatorState) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for entity, table, columns, render in (
        (CONTACTS, "contacts", _CONTACT_COLUMNS, _render_contacts),
        (COMPANIES, "companies", _COMPANY_COLUMNS, _render_companies),
    ):
        list_, one = _handlers(entity, table, columns, render)
        found += [get(state, entity.path, list_), get(state, f"{entity.path}/{{id:int}}", one)]
    return found
