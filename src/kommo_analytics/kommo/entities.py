"""Every Kommo entity the project reads, declared once, as data.

The HTTP client, the loader and the emulator all read this table, so a path, a page size or a
cursor field is written in exactly one place. Sources for each value are in
`docs/kommo-api.md` (sections in brackets below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

# Every path below is relative to this; the client requests it and the emulator serves it.
API_PREFIX = "/api/v4"

MAX_PAGE_SIZE = 250  # [§5] leads, contacts, companies, tasks, notes, users
EVENTS_PAGE_SIZE = 100  # [§5] events: amoCRM caps at 100; a request above 100 silently gets 50
EVENTS_FALLBACK_PAGE_SIZE = 50
CUSTOM_FIELDS_PAGE_SIZE = 50  # [§5] the custom-fields list returns at most 50 per page

# The won and lost stages: the same ids in every pipeline [§7.3].
WON_STATUS_ID = 142
LOST_STATUS_ID = 143
INCOMING_STATUS_TYPE = 1


class Shape(StrEnum):
    OBJECT = "object"  # one object, no `_embedded` list (account)
    DICTIONARY = "dictionary"  # a small list returned whole (`_total_items`, no paging)
    PAGED = "paged"  # `page`/`limit` pages ending in 204 or in a page without `_links.next`


@dataclass(frozen=True)
class Entity:
    name: str
    path: str  # below API_PREFIX
    embedded_key: str | None
    shape: Shape
    page_size: int | None = None
    max_page_size: int | None = None
    cursor_field: str | None = None  # the field incremental syncs window on
    with_options: tuple[str, ...] = ()  # what the sync asks for in `with=`
    allowed_with: tuple[str, ...] = ()  # everything the API accepts in `with=`
    order_fields: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    # Entity-type spelling differs between endpoints [§9.8]: events say `lead`, tasks say `leads`.
    entity_type: str | None = None
    extra_params: dict[str, str] = field(default_factory=dict)


_LEAD_FILTERS = (
    "id",
    "name",
    "price",
    "created_by",
    "updated_by",
    "responsible_user_id",
    "created_at",
    "updated_at",
    "closed_at",
    "closest_task_at",
    "pipeline_id",
    "statuses",
)
_CONTACT_FILTERS = (
    "id",
    "name",
    "created_by",
    "updated_by",
    "responsible_user_id",
    "created_at",
    "updated_at",
    "closest_task_at",
)

ACCOUNT = Entity(
    name="account",
    path="/account",
    embedded_key=None,
    shape=Shape.OBJECT,
    with_options=("datetime_settings", "task_types", "users_groups"),
    allowed_with=(
        "amojo_id",
        "amojo_rights",
        "users_groups",
        "task_types",
        "version",
        "entity_names",
        "datetime_settings",
        "drive_url",
        "uuid",
        "is_api_filter_enabled",
    ),
)
USERS = Entity(
    name="users",
    path="/users",
    embedded_key="users",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    with_options=("group",),
    allowed_with=("role", "group", "uuid", "amojo_id", "user_rank", "phone_number"),
)
PIPELINES = Entity(
    name="pipelines",
    path="/leads/pipelines",
    embedded_key="pipelines",
    shape=Shape.DICTIONARY,
)
STATUSES = Entity(
    name="statuses",
    path="/leads/pipelines/{pipeline_id}/statuses",
    embedded_key="statuses",
    shape=Shape.DICTIONARY,
)
LOSS_REASONS = Entity(
    name="loss_reasons",
    path="/leads/loss_reasons",
    embedded_key="loss_reasons",
    shape=Shape.DICTIONARY,
)
LEAD_CUSTOM_FIELDS = Entity(
    name="lead_custom_fields",
    path="/leads/custom_fields",
    embedded_key="custom_fields",
    shape=Shape.PAGED,
    page_size=CUSTOM_FIELDS_PAGE_SIZE,
    max_page_size=CUSTOM_FIELDS_PAGE_SIZE,
    order_fields=("sort", "id"),
    filters=("id", "type"),
)
LEADS = Entity(
    name="leads",
    path="/leads",
    embedded_key="leads",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    with_options=("contacts", "loss_reason", "source"),
    allowed_with=(
        "catalog_elements",
        "is_price_modified_by_robot",
        "loss_reason",
        "contacts",
        "only_deleted",
        "source_id",
        "source",
    ),
    order_fields=("created_at", "updated_at", "id"),
    filters=_LEAD_FILTERS,
    entity_type="leads",
)
CONTACTS = Entity(
    name="contacts",
    path="/contacts",
    embedded_key="contacts",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    with_options=("leads",),
    allowed_with=("leads", "customers", "catalog_elements", "social_profiles", "only_deleted"),
    order_fields=("created_at", "updated_at", "id"),
    filters=_CONTACT_FILTERS,
    entity_type="contacts",
)
COMPANIES = Entity(
    name="companies",
    path="/companies",
    embedded_key="companies",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    allowed_with=("leads", "customers", "contacts", "catalog_elements", "only_deleted"),
    order_fields=("created_at", "updated_at", "id"),
    filters=_CONTACT_FILTERS,
    entity_type="companies",
)
EVENTS = Entity(
    name="events",
    path="/events",
    embedded_key="events",
    shape=Shape.PAGED,
    page_size=EVENTS_PAGE_SIZE,
    max_page_size=EVENTS_PAGE_SIZE,
    cursor_field="created_at",
    allowed_with=(
        "lead_name",
        "contact_name",
        "company_name",
        "customer_name",
        "catalog_name",
        "catalog_element_name",
        "note",
    ),
    filters=(
        "id",
        "type",
        "entity",
        "entity_id",
        "created_at",
        "created_by",
        "value_before",
        "value_after",
    ),
)
TASKS = Entity(
    name="tasks",
    path="/tasks",
    embedded_key="tasks",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    order_fields=("created_at", "complete_till", "id"),
    filters=(
        "id",
        "responsible_user_id",
        "created_by",
        "is_completed",
        "task_type",
        "task_type_id",
        "entity_type",
        "entity_id",
        "updated_at",
    ),
)
LEAD_NOTES = Entity(
    name="lead_notes",
    path="/leads/notes",
    embedded_key="notes",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    order_fields=("updated_at", "id"),
    filters=("id", "entity_id", "note_type", "updated_at"),
    entity_type="leads",
)
CONTACT_NOTES = Entity(
    name="contact_notes",
    path="/contacts/notes",
    embedded_key="notes",
    shape=Shape.PAGED,
    page_size=MAX_PAGE_SIZE,
    max_page_size=MAX_PAGE_SIZE,
    cursor_field="updated_at",
    order_fields=("updated_at", "id"),
    filters=("id", "entity_id", "note_type", "updated_at"),
    entity_type="contacts",
)
UNSORTED_SUMMARY = Entity(
    name="unsorted_summary",
    path="/leads/unsorted/summary",
    embedded_key=None,
    shape=Shape.OBJECT,
    filters=("created_at", "pipeline_id"),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        ACCOUNT,
        USERS,
        PIPELINES,
        STATUSES,
        LOSS_REASONS,
        LEAD_CUSTOM_FIELDS,
        LEADS,
        CONTACTS,
        COMPANIES,
        EVENTS,
        TASKS,
        LEAD_NOTES,
        CONTACT_NOTES,
        UNSORTED_SUMMARY,
    )
}

# UTM tracking fields are matched by `field_code`, never by their per-account ids [§7.11].
TRACKING_FIELD_CODES: tuple[str, ...] = (
    "UTM_SOURCE",
    "UTM_MEDIUM",
    "UTM_CAMPAIGN",
    "UTM_CONTENT",
    "UTM_TERM",
    "REFERRER",
    "GCLID",
    "FBCLID",
)
# The column each tracking field's value is kept in, by its code (emulator store and warehouse).
TRACKING_COLUMNS: dict[str, str] = {code: code.lower() for code in TRACKING_FIELD_CODES}
# Every tracking code real accounts are known to carry on leads. Fields of type `tracking_data`
# are kept whatever their code; this list is what lets a plain text field count as tracking
# when its name is one of these codes, and what "has a tracking field" means by default.
KNOWN_TRACKING_CODES: tuple[str, ...] = (
    *TRACKING_FIELD_CODES,
    "UTM_REFERRER",
    "YCLID",
    "GCLIENTID",
    "ROISTAT",
    "_YM_UID",
    "_YM_COUNTER",
    "OPENSTAT_SERVICE",
    "OPENSTAT_CAMPAIGN",
    "OPENSTAT_AD",
    "OPENSTAT_SOURCE",
    "FROM",
)
# Codes that fill another code's typed column when that one is empty: some accounts send
# UTM_REFERRER instead of REFERRER for the same page. REFERRER wins when both are present
# (it is the field Kommo's own forms fill); both are kept in `lead_tracking` anyway.
TRACKING_FALLBACKS: dict[str, str] = {"UTM_REFERRER": "REFERRER"}
TRACKING_DATA_TYPE = "tracking_data"
