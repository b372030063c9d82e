"""The account's small dictionaries: pipelines and stages, loss reasons, lead custom fields, and
the incoming-leads summary (docs/kommo-api.md §7.3, §7.4, §7.11, §7.12, example §11.2)."""

from __future__ import annotations

import json
import math

from starlette.responses import Response
from starlette.routing import BaseRoute

from kommo_analytics.emulator.http import hal_json, problem
from kommo_analytics.emulator.resources.common import (
    Ctx,
    Filter,
    Json,
    Kind,
    Row,
    Where,
    apply_filters,
    collection,
    dictionary,
    entity_or_204,
    fetch_page,
    get,
    order_by,
    page_of,
)
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import (
    LEAD_CUSTOM_FIELDS,
    LEADS,
    LOSS_REASONS,
    PIPELINES,
    STATUSES,
    UNSORTED_SUMMARY,
)

# STATUSES.path carries a `{pipeline_id}` slot; routes need it typed.
_STATUSES_ROUTE = STATUSES.path.replace("{pipeline_id}", "{pipeline_id:int}")
_PIPELINE_COLUMNS = "id, name, sort, is_main, is_unsorted_on, is_archive"
_STATUS_COLUMNS = "id, pipeline_id, name, sort, type, color, is_editable"
_REASON_COLUMNS = "id, name, sort, created_at, updated_at"
_FIELD_COLUMNS = "id, name, code, type, sort, is_api_only, is_predefined, is_deletable, enums"
_UNSORTED_CATEGORIES = ("sip", "mail", "forms", "chats")


def _not_found(what: str) -> Response:
    # UNCERTAIN (docs/kommo-api.md §5): dictionaries answer a 404 problem for an unknown id, as the
    # loss-reasons endpoint documents ("Loss reason not found").
    return problem(404, "Not Found", f"{what} not found")


# -- pipelines and stages ----------------------------------------------------------------------


def _status(ctx: Ctx, row: Row) -> Json:
    return {
        "id": row["id"],
        "name": row["name"],
        "sort": row["sort"],
        "is_editable": bool(row["is_editable"]),
        "pipeline_id": row["pipeline_id"],
        "color": row["color"],
        "type": row["type"],
        "account_id": ctx.account_id,
        "_links": ctx.links(f"{STATUSES.path.format(pipeline_id=row['pipeline_id'])}/{row['id']}"),
    }


def _statuses_of(ctx: Ctx, pipeline_ids: list[int]) -> dict[int, list[Json]]:
    if not pipeline_ids:
        return {}
    rows = ctx.rows(
        compose(
            "SELECT {columns} FROM statuses WHERE pipeline_id = ANY(?) ORDER BY pipeline_id, sort, id",
            columns=_STATUS_COLUMNS,
        ),
        [pipeline_ids],
    )
    grouped: dict[int, list[Json]] = {}
    for row in rows:
        grouped.setdefault(row["pipeline_id"], []).append(_status(ctx, row))
    return grouped


def _pipelines(ctx: Ctx, rows: list[Row]) -> list[Json]:
    statuses = _statuses_of(ctx, [row["id"] for row in rows])
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "sort": row["sort"],
            "is_main": bool(row["is_main"]),
            "is_unsorted_on": bool(row["is_unsorted_on"]),
            "is_archive": bool(row["is_archive"]),
            "account_id": ctx.account_id,
            "_links": ctx.links(f"{PIPELINES.path}/{row['id']}"),
            "_embedded": {"statuses": statuses.get(row["id"], [])},
        }
        for row in rows
    ]


def _pipeline_list(ctx: Ctx) -> Response:
    rows = ctx.rows(
        compose("SELECT {columns} FROM pipelines ORDER BY sort, id", columns=_PIPELINE_COLUMNS)
    )
    return dictionary(ctx, PIPELINES.embedded_key, _pipelines(ctx, rows))


def _pipeline(ctx: Ctx) -> Response:
    rows = ctx.rows(
        compose("SELECT {columns} FROM pipelines WHERE id = ?", columns=_PIPELINE_COLUMNS),
        [ctx.path_int("pipeline_id")],
    )
    return hal_json(_pipelines(ctx, rows)[0]) if rows else _not_found("Pipeline")


def _status_list(ctx: Ctx) -> Response:
    pipeline_id = ctx.path_int("pipeline_id")
    if ctx.scalar("SELECT count(*) FROM pipelines WHERE id = ?", [pipeline_id]) == 0:
        return _not_found("Pipeline")
    return dictionary(
        ctx, STATUSES.embedded_key, _statuses_of(ctx, [pipeline_id]).get(pipeline_id, [])
    )


def _status_one(ctx: Ctx) -> Response:
    row = ctx.one(
        compose(
            "SELECT {columns} FROM statuses WHERE pipeline_id = ? AND id = ?",
            columns=_STATUS_COLUMNS,
        ),
        [ctx.path_int("pipeline_id"), ctx.path_int("status_id")],
    )
    return _not_found("Status") if row is None else hal_json(_status(ctx, row))


# -- loss reasons ------------------------------------------------------------------------------


def _reason(ctx: Ctx, row: Row) -> Json:
    return {**row, "_links": ctx.links(f"{LOSS_REASONS.path}/{row['id']}")}


def _reason_list(ctx: Ctx) -> Response:
    rows = ctx.rows(
        compose("SELECT {columns} FROM loss_reasons ORDER BY sort, id", columns=_REASON_COLUMNS)
    )
    return dictionary(ctx, LOSS_REASONS.embedded_key, [_reason(ctx, row) for row in rows])


def _reason_one(ctx: Ctx) -> Response:
    row = ctx.one(
        compose("SELECT {columns} FROM loss_reasons WHERE id = ?", columns=_REASON_COLUMNS),
        [ctx.path_int("id")],
    )
    return _not_found("Loss reason") if row is None else hal_json(_reason(ctx, row))


# -- custom fields -----------------------------------------------------------------------------

_FIELD_FILTERS: dict[str, Filter] = {
    "id": Filter(Kind.INTS, "id"),
    "type": Filter(Kind.STRINGS, "type"),
}
assert set(_FIELD_FILTERS) <= set(LEAD_CUSTOM_FIELDS.filters)


def _field(ctx: Ctx, row: Row) -> Json:
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "account_id": ctx.account_id,
        "code": row["code"],
        "sort": row["sort"],
        "is_api_only": bool(row["is_api_only"]),
        "enums": None if row["enums"] is None else json.loads(row["enums"]),
        "group_id": None,
        "required_statuses": [],
        "is_deletable": bool(row["is_deletable"]),
        "is_predefined": bool(row["is_predefined"]),
        "entity_type": LEADS.entity_type,
        "tracking_callback": None,
        "remind": None,
        "_links": ctx.links(f"{LEAD_CUSTOM_FIELDS.path}/{row['id']}"),
    }


def _field_list(ctx: Ctx) -> Response:
    query = ctx.query
    # At most 50 per page whatever `limit` asks (docs/kommo-api.md §5): the entity's max page size.
    page = page_of(query, LEAD_CUSTOM_FIELDS)
    where = Where("entity_type = ?")
    where.params.append(LEADS.entity_type)
    apply_filters(query, where, _FIELD_FILTERS)
    order = order_by(query, LEAD_CUSTOM_FIELDS.order_fields, "sort ASC, id ASC")
    rows = fetch_page(
        ctx, columns=_FIELD_COLUMNS, table="custom_fields", where=where, order=order, page=page
    )
    total = int(
        ctx.scalar(
            compose("SELECT count(*) FROM custom_fields WHERE {where}", where=where.sql()),
            where.params,
        )
    )
    # UNCERTAIN (docs/kommo-api.md §3, §7.11): the field list reports totals like the users list
    # does but, like the small dictionaries, `_total_items` instead of `_page`.
    head = {"_total_items": total, "_page_count": math.ceil(total / page.limit)}
    items = [_field(ctx, row) for row in rows]
    return collection(ctx, LEAD_CUSTOM_FIELDS.embedded_key, items, page, head=head, numbered=False)


def _field_one(ctx: Ctx) -> Response:
    row = ctx.one(
        compose(
            "SELECT {columns} FROM custom_fields WHERE entity_type = ? AND id = ?",
            columns=_FIELD_COLUMNS,
        ),
        [LEADS.entity_type, ctx.path_int("id")],
    )
    return entity_or_204(None if row is None else _field(ctx, row))


# -- incoming leads summary --------------------------------------------------------------------

_SUMMARY_FILTERS: dict[str, Filter] = {
    "created_at": Filter(Kind.RANGE, "created_at"),
    "pipeline_id": Filter(Kind.INTS, "pipeline_id"),
}
assert set(_SUMMARY_FILTERS) <= set(UNSORTED_SUMMARY.filters)


def _unsorted_summary(ctx: Ctx) -> Response:
    where = Where()
    apply_filters(ctx.query, where, _SUMMARY_FILTERS)
    categories = ", ".join(["count(*) FILTER (WHERE category = ?)"] * len(_UNSORTED_CATEGORIES))
    row = ctx.cur.execute(
        compose(
            "SELECT count(*), count(*) FILTER (WHERE status = 'accepted'), "
            "count(*) FILTER (WHERE status = 'declined'), "
            "avg(sorted_at - created_at) FILTER (WHERE status IN ('accepted', 'declined')), "
            "{categories} FROM unsorted WHERE {where}",
            categories=categories,
            where=where.sql(),
        ),
        [*_UNSORTED_CATEGORIES, *where.params],
    ).fetchone()
    assert row is not None
    total, accepted, declined, average, *per_category = row
    return hal_json(
        {
            "total": total,
            "accepted": accepted,
            "declined": declined,
            # Seconds from arrival to accept/decline, over the sorted ones.
            "average_sort_time": 0 if average is None else round(average),
            "categories": {
                category: {"total": count}
                for category, count in zip(_UNSORTED_CATEGORIES, per_category, strict=True)
            },
        }
    )


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [
        get(state, PIPELINES.path, _pipeline_list),
        get(state, f"{PIPELINES.path}/{{pipeline_id:int}}", _pipeline),
        get(state, _STATUSES_ROUTE, _status_list),
        get(state, f"{_STATUSES_ROUTE}/{{status_id:int}}", _status_one),
        get(state, LOSS_REASONS.path, _reason_list),
        get(state, f"{LOSS_REASONS.path}/{{id:int}}", _reason_one),
        get(state, LEAD_CUSTOM_FIELDS.path, _field_list),
        get(state, f"{LEAD_CUSTOM_FIELDS.path}/{{id:int}}", _field_one),
        get(state, UNSORTED_SUMMARY.path, _unsorted_summary),
    ]
