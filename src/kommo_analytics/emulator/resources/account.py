"""`/api/v4/account` and `/api/v4/users` (+ `/{id}`) (docs/kommo-api.md §7.1, §7.5)."""

from __future__ import annotations

import math

from starlette.responses import Response
from starlette.routing import BaseRoute

from kommo_analytics.emulator.http import hal_json, no_content
from kommo_analytics.emulator.resources.common import (
    Ctx,
    Json,
    Row,
    Where,
    collection,
    entity_or_204,
    fetch_page,
    get,
    page_of,
)
from kommo_analytics.emulator.sql import compose
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.kommo.entities import ACCOUNT, LOST_STATUS_ID, USERS, WON_STATUS_ID

_ACCOUNT_FIELDS = (
    "id", "name", "subdomain", "created_at", "created_by", "updated_at", "updated_by",
    "current_user_id", "country", "currency", "currency_symbol", "customers_mode",
    "is_unsorted_on",
)  # fmt: skip
_ACCOUNT_FLAGS = (
    "is_loss_reason_enabled", "is_helpbot_enabled", "is_technical_account",
    "contact_name_display_order",
)  # fmt: skip
_DATETIME_FIELDS = (
    "date_pattern", "short_date_pattern", "short_time_pattern", "date_format", "time_format",
    "timezone", "timezone_offset",
)  # fmt: skip
_USER_COLUMNS = "id, name, email, lang, is_admin, is_free, is_active, group_id, role_id"


def _account(ctx: Ctx) -> Response:
    row = ctx.one("SELECT * FROM account ORDER BY id LIMIT 1")
    if row is None:
        return no_content()
    with_ = ctx.query.with_(ACCOUNT.allowed_with)
    body: Json = {name: row[name] for name in _ACCOUNT_FIELDS}
    # The store does not model the mobile app; Kommo reports a small integer here.
    body["mobile_feature_version"] = 0
    body.update({name: row[name] for name in _ACCOUNT_FLAGS})
    for name in ("amojo_id", "uuid", "version"):
        if name in with_:
            body[name] = row[name]
    if "is_api_filter_enabled" in with_:
        body["is_api_filter_enabled"] = True
    if "drive_url" in with_:
        # UNCERTAIN (docs/kommo-api.md §1): a Kommo drive host in the style of amoCRM's drive-b.
        body["drive_url"] = "https://drive-b.kommo.com"
    if "entity_names" in with_:
        body["entity_names"] = {}
    body["_links"] = ctx.links(ACCOUNT.path)
    embedded: Json = {}
    if "amojo_rights" in with_:
        embedded["amojo_rights"] = {"can_direct": False, "can_create_groups": False}
    if "users_groups" in with_:
        embedded["users_groups"] = ctx.rows("SELECT id, name, uuid FROM users_groups ORDER BY id")
    if "task_types" in with_:
        embedded["task_types"] = ctx.rows(
            "SELECT id, name, color, icon_id, code FROM task_types ORDER BY id"
        )
    if "datetime_settings" in with_ and not ctx.quirks.account_without_datetime:
        embedded["datetime_settings"] = {name: row[name] for name in _DATETIME_FIELDS}
    # Some accounts answer without `_embedded` whatever `with=` asks (docs/emulator.md).
    if embedded and not ctx.quirks.account_without_embedded:
        body["_embedded"] = embedded
    return hal_json(body)


def _rights(row: Row, closed_stages: list[Row], catalog_id: int) -> Json:
    """The store keeps only the admin flag, so the per-entity letters are derived from it.

    UNCERTAIN (docs/kommo-api.md §7.5): a plausible matrix — admins "A" everywhere; other users may
    view, edit and add everything but not delete or export, and may not edit or delete deals in
    the won and lost stages (`status_rights`). The reference names `status_rights` only; the
    shapes of `catalog_rights`, `files_access` and the `oper_day_*` flags follow Kommo's SDK
    user rights model (no catalogs are emulated: the id is the account's product list).
    """
    admin = bool(row["is_admin"])
    status_rights = (
        None
        if admin
        else [
            {
                "entity_type": "leads",
                "pipeline_id": stage["pipeline_id"],
                "status_id": stage["id"],
                "rights": {"view": "A", "edit": "D", "delete": "D"},
            }
            for stage in closed_stages
        ]
    )
    catalog = dict.fromkeys(("view", "edit", "add", "delete", "export"), "A" if admin else "D")
    catalog["view"] = "A"
    entity = (
        dict.fromkeys(("view", "edit", "add", "delete", "export"), "A")
        if admin
        else {"view": "A", "edit": "A", "add": "A", "delete": "D", "export": "D"}
    )
    return {
        "leads": dict(entity),
        "contacts": dict(entity),
        "companies": dict(entity),
        "tasks": {"edit": "A", "delete": "A" if admin else "D"},
        "mail_access": True,
        "catalog_access": admin,
        "files_access": "A" if admin else "M",
        "status_rights": status_rights,
        "catalog_rights": [{"catalog_id": catalog_id, "rights": catalog}],
        "oper_day_reports_view_access": admin,
        "oper_day_user_tracking": not admin and row["id"] % 3 == 0,
        "is_admin": admin,
        "is_free": bool(row["is_free"]),
        "is_active": bool(row["is_active"]),
        "group_id": row["group_id"],
        "role_id": row["role_id"],
    }


def _render_users(ctx: Ctx, rows: list[Row]) -> list[Json]:
    with_ = ctx.query.with_(USERS.allowed_with)
    groups: dict[int, Json] = {}
    if "group" in with_:
        groups = {g["id"]: g for g in ctx.rows("SELECT id, name FROM users_groups")}
    closed_stages = ctx.rows(
        "SELECT pipeline_id, id FROM statuses WHERE id IN (?, ?) ORDER BY pipeline_id, id",
        [WON_STATUS_ID, LOST_STATUS_ID],
    )
    catalog_id = 5_000 + ctx.account_id % 90_000
    rendered = []
    for row in rows:
        user: Json = {
            "id": row["id"],
            "name": row["name"],
            "email": row["email"],
            "lang": row["lang"],
            # Deactivated users stay listed (docs/kommo-api.md §7.5), flagged by rights.is_active.
            "rights": _rights(row, closed_stages, catalog_id),
            "_links": ctx.links(f"{USERS.path}/{row['id']}"),
        }
        if "group" in with_:
            group = groups.get(row["group_id"])
            user["_embedded"] = {"groups": [] if group is None else [group]}
        rendered.append(user)
    return rendered


def _users(ctx: Ctx) -> Response:
    page = page_of(ctx.query, USERS)
    rows = fetch_page(
        ctx, columns=_USER_COLUMNS, table="users", where=Where(), order="id ASC", page=page
    )
    total = int(ctx.scalar("SELECT count(*) FROM users"))
    head = {
        "_total_items": total,
        "_page": page.number,
        "_page_count": math.ceil(total / page.limit),
    }
    return collection(ctx, USERS.embedded_key, _render_users(ctx, rows), page, head=head)


def _user(ctx: Ctx) -> Response:
    rows = ctx.rows(
        compose("SELECT {columns} FROM users WHERE id = ?", columns=_USER_COLUMNS),
        [ctx.path_int("id")],
    )
    items = _render_users(ctx, rows)
    return entity_or_204(items[0] if items else None)


def routes(state: EmulatorState) -> list[BaseRoute]:
    return [
        get(state, ACCOUNT.path, _account),
        get(state, USERS.path, _users),
        get(state, f"{USERS.path}/{{id:int}}", _user),
    ]
