"""The raw warehouse tables, declared once as data.

Each table holds one Kommo entity with typed columns for what the metrics read and, in ``raw``,
the entity's JSON exactly as Kommo sent it, so that a later version can re-derive a column
without a new sync. Timestamps are typed (UTC), not Unix seconds: the metrics bucket them in the
account's time zone, which every backend can only do on real timestamps.

The loader builds its dlt column hints and Arrow schemas from this table; nothing else names
these columns' types.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from kommo_analytics.kommo.entities import TRACKING_COLUMNS


class Disposition(StrEnum):
    REPLACE = "replace"  # small dictionaries: reloaded whole every run
    MERGE = "merge"  # upsert by primary key (delete-insert by merge key where one is given)


class T(StrEnum):
    """Column types, named as dlt names them."""

    BIGINT = "bigint"
    TEXT = "text"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DOUBLE = "double"


ARROW_TYPES: dict[T, pa.DataType] = {
    T.BIGINT: pa.int64(),
    T.TEXT: pa.string(),
    T.BOOL: pa.bool_(),
    T.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    T.DOUBLE: pa.float64(),
}


KEY_TEXT_LENGTH = 128


@dataclass(frozen=True)
class Column:
    name: str
    type: T
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    disposition: Disposition
    # For link tables: rows sharing these values are replaced as a set (a lead's contacts).
    merge_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in self.columns]
        )

    def dlt_columns(self) -> list[dict[str, object]]:
        return [
            {
                "name": c.name,
                "data_type": c.type.value,
                "nullable": c.nullable,
                **({"primary_key": True} if c.name in self.primary_key else {}),
                # MySQL cannot index unbounded TEXT: key strings get a length (VARCHAR).
                **(
                    {"precision": KEY_TEXT_LENGTH}
                    if c.type is T.TEXT and c.name in (*self.primary_key, *self.merge_key)
                    else {}
                ),
                **({"merge_key": True} if c.name in self.merge_key else {}),
            }
            for c in self.columns
        ]


def _cols(spec: str) -> tuple[Column, ...]:
    """`"id bigint!, name text"` → columns; `!` marks NOT NULL."""
    columns = []
    for item in spec.split(","):
        name, type_ = item.split()
        columns.append(Column(name, T(type_.rstrip("!")), nullable=not type_.endswith("!")))
    return tuple(columns)


def _table(
    name: str,
    spec: str,
    key: tuple[str, ...] = ("id",),
    disposition: Disposition = Disposition.MERGE,
    merge_key: tuple[str, ...] = (),
) -> Table:
    return Table(name, _cols(spec), key, disposition, merge_key)


_R = Disposition.REPLACE

ACCOUNT = _table(
    "account",
    "id bigint!, name text, subdomain text, country text, currency text, currency_symbol text, "
    "timezone text, timezone_offset text, created_at timestamp, raw text",
    disposition=_R,
)
TASK_TYPES = _table("task_types", "id bigint!, name text, code text, color text", disposition=_R)
USER_GROUPS = _table("user_groups", "id bigint!, name text", disposition=_R)
USERS = _table(
    "users",
    "id bigint!, name text, email text, lang text, is_admin bool, is_free bool, is_active bool, "
    "group_id bigint, role_id bigint, raw text",
    disposition=_R,
)
PIPELINES = _table(
    "pipelines",
    "id bigint!, name text, sort bigint, is_main bool, is_unsorted_on bool, is_archive bool, "
    "raw text",
    disposition=_R,
)
STATUSES = _table(
    "statuses",
    "pipeline_id bigint!, id bigint!, name text, sort bigint, type bigint, color text, "
    "is_editable bool, raw text",
    key=("pipeline_id", "id"),
    disposition=_R,
)
LOSS_REASONS = _table(
    "loss_reasons",
    "id bigint!, name text, sort bigint, created_at timestamp, updated_at timestamp, raw text",
    disposition=_R,
)
LEAD_CUSTOM_FIELDS = _table(
    "lead_custom_fields",
    "id bigint!, name text, code text, type text, sort bigint, enums text, raw text",
    disposition=_R,
)
LEADS = _table(
    "leads",
    "id bigint!, name text, price bigint, responsible_user_id bigint, group_id bigint, "
    "status_id bigint, pipeline_id bigint, loss_reason_id bigint, source_id bigint, "
    "source_name text, created_by bigint, updated_by bigint, created_at timestamp, "
    "updated_at timestamp, closed_at timestamp, closest_task_at timestamp, is_deleted bool!, "
    "deleted_at timestamp, score bigint, labor_cost bigint, company_id bigint, "
    "main_contact_id bigint, tags text, "
    # One text column per UTM/tracking field code: utm_source, utm_medium, ...
    + "".join(f"{column} text, " for column in TRACKING_COLUMNS.values())
    + "raw text",
)
LEAD_CONTACTS = _table(
    "lead_contacts",
    "lead_id bigint!, contact_id bigint!, is_main bool",
    key=("lead_id", "contact_id"),
    merge_key=("lead_id",),
)
# Every tracking field of a lead (tracking_data fields and text fields named like a known code),
# by its code: what rules may name beyond the typed columns of `leads`. Replaced whole per lead.
LEAD_TRACKING = _table(
    "lead_tracking",
    "lead_id bigint!, code text!, name text, field_id bigint, field_type text, value text",
    key=("lead_id", "code"),
    merge_key=("lead_id",),
)
# What the sync learnt about a lead going to the trash or coming back (from the trash listing
# and from lead_deleted / lead_restored events). `leads.is_deleted` is derived from it after each
# load: a lead is deleted when its latest fact says so and is not older than the lead's row.
LEAD_DELETIONS = _table(
    "lead_deletions",
    "lead_id bigint!, is_deleted bool!, changed_at timestamp!, source text",
    key=("lead_id",),
)
CONTACTS = _table(
    "contacts",
    "id bigint!, name text, responsible_user_id bigint, group_id bigint, created_by bigint, "
    "updated_by bigint, created_at timestamp, updated_at timestamp, closest_task_at timestamp, "
    "company_id bigint, lead_ids text, raw text",
)
EVENTS = _table(
    "events",
    "id text!, type text, entity_id bigint, entity_type text, created_by bigint, "
    "created_at timestamp, value_before text, value_after text, raw text",
)
TASKS = _table(
    "tasks",
    "id bigint!, created_by bigint, updated_by bigint, created_at timestamp, "
    "updated_at timestamp, responsible_user_id bigint, group_id bigint, entity_id bigint, "
    "entity_type text, duration bigint, is_completed bool, task_type_id bigint, text text, "
    "result_text text, complete_till timestamp, raw text",
)
CALL_NOTES = _table(
    "call_notes",
    "entity_type text!, id bigint!, entity_id bigint, note_type text, created_by bigint, "
    "updated_by bigint, created_at timestamp, updated_at timestamp, responsible_user_id bigint, "
    "duration bigint, call_status bigint, call_result text, source text, raw text",
    key=("entity_type", "id"),
)
# The sync's own bookkeeping, loaded through the same path as the data.
SYNC_STATE = _table(
    "sync_state",
    "stream text!, watermark bigint!, rows_total bigint, updated_at timestamp",
    key=("stream",),
)
SYNC_RUNS = _table(
    "sync_runs",
    "run_id text!, started_at timestamp, finished_at timestamp, status text, mode text, "
    "entities text, rows_json text, requests bigint, retries bigint, rate_limited bigint, "
    "refreshes bigint, error text, warnings text",
    key=("run_id",),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        ACCOUNT,
        TASK_TYPES,
        USER_GROUPS,
        USERS,
        PIPELINES,
        STATUSES,
        LOSS_REASONS,
        LEAD_CUSTOM_FIELDS,
        LEADS,
        LEAD_CONTACTS,
        LEAD_TRACKING,
        LEAD_DELETIONS,
        CONTACTS,
        EVENTS,
        TASKS,
        CALL_NOTES,
        SYNC_STATE,
        SYNC_RUNS,
    )
}
