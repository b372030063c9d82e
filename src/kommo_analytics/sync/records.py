"""Kommo JSON → warehouse rows (pure functions; the column list is ``warehouse/tables.py``).

Every row keeps the entity's JSON in ``raw``. Kommo's quirks handled here, once:
``result: []`` for "no result", numeric values as strings, ``[]`` for empty objects, singular vs
plural entity types, tracking (UTM) values found by ``field_code`` (ids differ per account).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kommo_analytics.errors import DataDriftError
from kommo_analytics.kommo.entities import (
    KNOWN_TRACKING_CODES,
    TRACKING_COLUMNS,
    TRACKING_DATA_TYPE,
    TRACKING_FALLBACKS,
)
from kommo_analytics.warehouse import tables
from kommo_analytics.warehouse.loader import Row

Json = dict[str, Any]

# field_code → column. Matched by code first; accounts that made plain text fields named like
# the codes are matched by name (docs/kommo-api.md §7.11).
UTM_COLUMNS = TRACKING_COLUMNS
_KNOWN_CODES = frozenset(KNOWN_TRACKING_CODES)


def _shown(value: Any) -> str:
    """The offending value as the error shows it: JSON, cut to a readable length."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else f"{text[:57]}…"


def _drift(field: str, value: Any, expected: str) -> DataDriftError:
    return DataDriftError(
        f"field `{field}` is {_shown(value)}, not {expected}", field=field, value=value
    )


def _absent(value: Any) -> bool:
    # PHP serialises an empty object as `[]`; Kommo sends "" for some unset values.
    return value is None or value == "" or (isinstance(value, list | dict) and not value)


def _number(value: Any, field: str, expected: str) -> int:
    """A whole number from an int, an integral float or a numeric string ("1500.00")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and number == number.to_integral_value():
            return int(number)
    raise _drift(field, value, expected)


def ts(value: Any, field: str = "timestamp") -> datetime | None:
    """Unix seconds (int or numeric string) → aware UTC datetime; null, "" or 0 → None.

    Anything else is not a time Kommo could mean: :class:`DataDriftError`, never a silent None.
    """
    if _absent(value):
        return None
    seconds = _number(value, field, "a Unix time")
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _drift(field, value, "a Unix time") from None


def _int(value: Any, field: str) -> int | None:
    return None if _absent(value) else _number(value, field, "a whole number")


def _id(value: Any, field: str = "id") -> int:
    """A key column: a row without it cannot be stored (nor merged) at all."""
    if _absent(value):
        raise _drift(field, value, "an id")
    return _number(value, field, "an id")


def _bool(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLS:
        return _BOOLS[value.strip().lower()]
    raise _drift(field, value, "true or false")


def _key(value: Any, field: str = "id") -> str:
    """A text key (event ids are strings): required, like :func:`_id`."""
    if _absent(value) or isinstance(value, list | dict | bool):
        raise _drift(field, value, "an id")
    return str(value)


_BOOLS = {"1": True, "true": True, "0": False, "false": False}


def _str(value: Any, field: str) -> str | None:
    if value is None or (isinstance(value, list | dict) and not value):
        return None
    if isinstance(value, list | dict):
        raise _drift(field, value, "text")
    return str(value)


def _raw(item: Json) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _embedded(item: Json, key: str) -> list[Json]:
    embedded = item.get("_embedded")
    value = embedded.get(key) if isinstance(embedded, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- dictionaries -----------------------------------------------------------------------------


def account_rows(account: Json) -> dict[str, list[Row]]:
    settings = _embedded_obj(account, "datetime_settings")
    return {
        "account": [
            {
                "id": _int(account.get("id"), "id"),
                "name": _str(account.get("name"), "name"),
                "subdomain": _str(account.get("subdomain"), "subdomain"),
                "country": _str(account.get("country"), "country"),
                "currency": _str(account.get("currency"), "currency"),
                "currency_symbol": _str(account.get("currency_symbol"), "currency_symbol"),
                "timezone": _str(settings.get("timezone"), "datetime_settings.timezone"),
                "timezone_offset": _str(
                    settings.get("timezone_offset"), "datetime_settings.timezone_offset"
                ),
                "created_at": ts(account.get("created_at"), "created_at"),
                "raw": _raw(account),
            }
        ],
        "task_types": [
            {
                "id": _id(t.get("id"), "task_types.id"),
                "name": _str(t.get("name"), "task_types.name"),
                "code": _str(t.get("code"), "task_types.code"),
                "color": _str(t.get("color"), "task_types.color"),
            }
            for t in _embedded(account, "task_types")
        ],
        "user_groups": [
            {
                "id": _id(g.get("id"), "users_groups.id"),
                "name": _str(g.get("name"), "users_groups.name"),
            }
            for g in _embedded(account, "users_groups")
        ],
    }


def _embedded_obj(item: Json, key: str) -> Json:
    embedded = item.get("_embedded")
    value = embedded.get(key) if isinstance(embedded, dict) else None
    return value if isinstance(value, dict) else {}


def user_row(user: Json) -> Row:
    rights = user.get("rights") if isinstance(user.get("rights"), dict) else {}
    assert isinstance(rights, dict)
    return {
        "id": _id(user.get("id")),
        "name": _str(user.get("name"), "name"),
        "email": _str(user.get("email"), "email"),
        "lang": _str(user.get("lang"), "lang"),
        "is_admin": _bool(rights.get("is_admin"), "rights.is_admin"),
        "is_free": _bool(rights.get("is_free"), "rights.is_free"),
        "is_active": _bool(rights.get("is_active"), "rights.is_active"),
        "group_id": _int(rights.get("group_id"), "rights.group_id"),
        "role_id": _int(rights.get("role_id"), "rights.role_id"),
        "raw": _raw(user),
    }


def pipeline_rows(pipelines: Iterable[Json]) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {"pipelines": [], "statuses": []}
    for p in pipelines:
        rows["pipelines"].append(
            {
                "id": _id(p.get("id")),
                "name": _str(p.get("name"), "name"),
                "sort": _int(p.get("sort"), "sort"),
                "is_main": _bool(p.get("is_main"), "is_main"),
                "is_unsorted_on": _bool(p.get("is_unsorted_on"), "is_unsorted_on"),
                "is_archive": _bool(p.get("is_archive"), "is_archive"),
                "raw": _raw({k: v for k, v in p.items() if k != "_embedded"}),
            }
        )
        for s in _embedded(p, "statuses"):
            rows["statuses"].append(
                {
                    # 142/143 repeat in every pipeline: a stage is (pipeline_id, id).
                    "pipeline_id": _int(s.get("pipeline_id"), "statuses.pipeline_id")
                    or _id(p.get("id")),
                    "id": _id(s.get("id"), "statuses.id"),
                    "name": _str(s.get("name"), "name"),
                    "sort": _int(s.get("sort"), "sort"),
                    "type": _int(s.get("type"), "type"),
                    "color": _str(s.get("color"), "color"),
                    "is_editable": _bool(s.get("is_editable"), "is_editable"),
                    "raw": _raw(s),
                }
            )
    return rows


def loss_reason_row(reason: Json) -> Row:
    return {
        "id": _id(reason.get("id")),
        "name": _str(reason.get("name"), "name"),
        "sort": _int(reason.get("sort"), "sort"),
        "created_at": ts(reason.get("created_at"), "created_at"),
        "updated_at": ts(reason.get("updated_at"), "updated_at"),
        "raw": _raw(reason),
    }


def _listed(value: Any) -> list[Any]:
    """A PHP array Kommo may send as a JSON object keyed by index (``{"0": {…}, "1": {…}}``, as
    in its own docs) as the list it stands for, in index order."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (0, int(k)) if str(k).isdigit() else (1, str(k)))
        return [value[k] for k in keys]
    return value if isinstance(value, list) else []


def custom_field_row(field: Json) -> Row:
    enums = field.get("enums")
    return {
        "id": _id(field.get("id")),
        "name": _str(field.get("name"), "name"),
        "code": _str(field.get("code"), "code"),
        "type": _str(field.get("type"), "type"),
        "sort": _int(field.get("sort"), "sort"),
        "enums": json.dumps(_listed(enums), ensure_ascii=False) if enums is not None else None,
        "raw": _raw(field),
    }


# -- leads and contacts -----------------------------------------------------------------------


def _code(value: Any) -> str | None:
    return value.strip().upper() or None if isinstance(value, str) else None


def lead_tracking_rows(lead: Json) -> list[Row]:
    """Every tracking field of a lead that has a value, one row per code.

    A field is tracking when its type is ``tracking_data`` (whatever its code: accounts add
    their own, such as SOURCE_DOMAIN), or when its code or, for plain text fields, its name is
    a known tracking code. A field found by its code wins over a text field named like it.
    """
    lead_id = _id(lead.get("id"))
    by_code: dict[str, Row] = {}
    by_name: dict[str, Row] = {}
    fields = lead.get("custom_fields_values")
    for field in fields if isinstance(fields, list) else []:
        if not isinstance(field, dict):
            continue
        code = _code(field.get("field_code"))
        name = _code(field.get("field_name"))
        is_tracking = field.get("field_type") == TRACKING_DATA_TYPE
        if not (is_tracking or code in _KNOWN_CODES or name in _KNOWN_CODES):
            # Other fields' values may be objects (files, legal entities, linked entities):
            # not ours to read, so never a reason to fail the run.
            continue
        field_values = field.get("values")
        first = field_values[0] if isinstance(field_values, list) and field_values else None
        value = (
            _str(first.get("value"), f"custom_fields_values[{code or name}].value")
            if isinstance(first, dict)
            else None
        )
        if value is None:
            continue
        row: Row = {
            "lead_id": lead_id,
            "code": "",
            "name": _str(field.get("field_name"), "custom_fields_values.field_name"),
            "field_id": _int(field.get("field_id"), "custom_fields_values.field_id"),
            "field_type": _str(field.get("field_type"), "custom_fields_values.field_type"),
            "value": value,
        }
        if code is not None and (is_tracking or code in _KNOWN_CODES):
            by_code.setdefault(code, row | {"code": code})
        elif name is not None and (is_tracking or name in _KNOWN_CODES):
            by_name.setdefault(name, row | {"code": name})
        elif is_tracking:
            # A tracking field with neither code nor name: still kept, under its id.
            by_code.setdefault(
                f"FIELD_{row['field_id']}", row | {"code": f"FIELD_{row['field_id']}"}
            )
    for code, row in by_name.items():
        by_code.setdefault(code, row)
    return list(by_code.values())


def _tracking_values(tracking: list[Row]) -> dict[str, str | None]:
    """The typed tracking columns of the lead's row, from its tracking rows."""
    found = {row["code"]: row["value"] for row in tracking}
    for extra, standard in TRACKING_FALLBACKS.items():
        if not (found.get(standard) or "").strip() and extra in found:
            found[standard] = found[extra]
    return {column: found.get(code) for code, column in UTM_COLUMNS.items()}


def lead_rows(lead: Json) -> tuple[Row, list[Row]]:
    """The lead's row and its contact links."""
    lead_id = _id(lead.get("id"))
    contacts = _embedded(lead, "contacts")
    links = [
        {
            "lead_id": lead_id,
            "contact_id": _int(c.get("id"), "_embedded.contacts.id"),
            "is_main": _bool(c.get("is_main"), "_embedded.contacts.is_main"),
        }
        for c in contacts
        if _int(c.get("id"), "_embedded.contacts.id") is not None
    ]
    main = next((link["contact_id"] for link in links if link["is_main"]), None)
    companies = _embedded(lead, "companies")
    source = _embedded_obj(lead, "source")
    tags = [t.get("name") for t in _embedded(lead, "tags") if t.get("name") is not None]
    row: Row = {
        "id": lead_id,
        "name": _str(lead.get("name"), "name"),
        "price": _int(lead.get("price"), "price"),
        "responsible_user_id": _int(lead.get("responsible_user_id"), "responsible_user_id"),
        "group_id": _int(lead.get("group_id"), "group_id"),
        "status_id": _int(lead.get("status_id"), "status_id"),
        "pipeline_id": _int(lead.get("pipeline_id"), "pipeline_id"),
        "loss_reason_id": _int(lead.get("loss_reason_id"), "loss_reason_id"),
        "source_id": _int(source.get("id"), "_embedded.source.id")
        if source
        else _int(lead.get("source_id"), "source_id"),
        "source_name": _str(source.get("name"), "_embedded.source.name") if source else None,
        "created_by": _int(lead.get("created_by"), "created_by"),
        "updated_by": _int(lead.get("updated_by"), "updated_by"),
        "created_at": ts(lead.get("created_at"), "created_at"),
        "updated_at": ts(lead.get("updated_at"), "updated_at"),
        "closed_at": ts(lead.get("closed_at"), "closed_at"),
        "closest_task_at": ts(lead.get("closest_task_at"), "closest_task_at"),
        "is_deleted": bool(lead.get("is_deleted") or False),
        "deleted_at": None,
        "score": _int(lead.get("score"), "score"),
        "labor_cost": _int(lead.get("labor_cost"), "labor_cost"),
        "company_id": _int(companies[0].get("id"), "_embedded.companies.id") if companies else None,
        "main_contact_id": main,
        "tags": json.dumps(tags, ensure_ascii=False),
        **_tracking_values(lead_tracking_rows(lead)),
        "raw": _raw(lead),
    }
    return row, links


def deleted_lead_row(item: Json) -> Row:
    """A lead known only from `with=only_deleted`: its id and when it went to the trash."""
    deleted_at = ts(item.get("updated_at"), "updated_at")
    # The listing says nothing else about the lead: every other column is unknown.
    unknown: Row = dict.fromkeys(tables.LEADS.column_names)
    return unknown | {
        "id": _id(item.get("id")),
        "updated_at": deleted_at,
        "is_deleted": True,
        "deleted_at": deleted_at,
        "raw": _raw(item),
    }


def trash_deletion_fact(lead: Row) -> Row | None:
    """What a trash listing's row (:func:`deleted_lead_row`) says about the lead's deletion."""
    if lead["deleted_at"] is None:
        return None
    return {
        "lead_id": lead["id"],
        "is_deleted": True,
        "changed_at": lead["deleted_at"],
        "source": "trash",
    }


DELETION_EVENTS = ("lead_deleted", "lead_restored")


def event_deletion_fact(event: Row) -> Row | None:
    """What an event's row (:func:`event_row`) says about a lead going to the trash or coming
    back; None for every other event."""
    if event["type"] not in DELETION_EVENTS or not event["created_at"]:
        return None
    return {
        "lead_id": event["entity_id"],
        "is_deleted": event["type"] == "lead_deleted",
        "changed_at": event["created_at"],
        "source": event["type"],
    }


def contact_row(contact: Json) -> Row:
    companies = _embedded(contact, "companies")
    leads = [_int(lead.get("id"), "_embedded.leads.id") for lead in _embedded(contact, "leads")]
    return {
        "id": _id(contact.get("id")),
        "name": _str(contact.get("name"), "name"),
        "responsible_user_id": _int(contact.get("responsible_user_id"), "responsible_user_id"),
        "group_id": _int(contact.get("group_id"), "group_id"),
        "created_by": _int(contact.get("created_by"), "created_by"),
        "updated_by": _int(contact.get("updated_by"), "updated_by"),
        "created_at": ts(contact.get("created_at"), "created_at"),
        "updated_at": ts(contact.get("updated_at"), "updated_at"),
        "closest_task_at": ts(contact.get("closest_task_at"), "closest_task_at"),
        "company_id": _int(companies[0].get("id"), "_embedded.companies.id") if companies else None,
        "lead_ids": json.dumps([i for i in leads if i is not None]),
        "raw": _raw(contact),
    }


# -- activity ---------------------------------------------------------------------------------


def event_row(event: Json) -> Row:
    return {
        "id": _key(event.get("id")),
        "type": _str(event.get("type"), "type"),
        "entity_id": _int(event.get("entity_id"), "entity_id"),
        "entity_type": _str(event.get("entity_type"), "entity_type"),
        "created_by": _int(event.get("created_by"), "created_by"),
        "created_at": ts(event.get("created_at"), "created_at"),
        "value_before": json.dumps(event.get("value_before"), ensure_ascii=False),
        "value_after": json.dumps(event.get("value_after"), ensure_ascii=False),
        "raw": _raw(event),
    }


def task_row(task: Json) -> Row:
    result = task.get("result")
    return {
        "id": _id(task.get("id")),
        "created_by": _int(task.get("created_by"), "created_by"),
        "updated_by": _int(task.get("updated_by"), "updated_by"),
        "created_at": ts(task.get("created_at"), "created_at"),
        "updated_at": ts(task.get("updated_at"), "updated_at"),
        "responsible_user_id": _int(task.get("responsible_user_id"), "responsible_user_id"),
        "group_id": _int(task.get("group_id"), "group_id"),
        "entity_id": _int(task.get("entity_id"), "entity_id"),
        "entity_type": _str(task.get("entity_type"), "entity_type"),
        "duration": _int(task.get("duration"), "duration"),
        "is_completed": _bool(task.get("is_completed"), "is_completed"),
        "task_type_id": _int(task.get("task_type_id"), "task_type_id"),
        "text": _str(task.get("text"), "text"),
        # `"result": []` means no result (PHP serialises an empty object as a list).
        "result_text": _str(result.get("text"), "result.text")
        if isinstance(result, dict)
        else None,
        "complete_till": ts(task.get("complete_till"), "complete_till"),
        "raw": _raw(task),
    }


def call_note_row(note: Json, entity_type: str) -> Row:
    params = note.get("params") if isinstance(note.get("params"), dict) else {}
    assert isinstance(params, dict)
    return {
        "entity_type": entity_type,
        "id": _id(note.get("id")),
        "entity_id": _int(note.get("entity_id"), "entity_id"),
        "note_type": _str(note.get("note_type"), "note_type"),
        "created_by": _int(note.get("created_by"), "created_by"),
        "updated_by": _int(note.get("updated_by"), "updated_by"),
        "created_at": ts(note.get("created_at"), "created_at"),
        "updated_at": ts(note.get("updated_at"), "updated_at"),
        "responsible_user_id": _int(note.get("responsible_user_id"), "responsible_user_id"),
        "duration": _int(params.get("duration"), "params.duration"),
        "call_status": _int(params.get("call_status"), "params.call_status"),
        "call_result": _str(params.get("call_result"), "params.call_result"),
        "source": _str(params.get("source"), "params.source"),
        "raw": _raw(note),
    }
