"""The emulator's account store: columnar tables in an in-memory DuckDB database.

The generator fills these tables; the HTTP app filters, orders and pages them with SQL and
renders only the rows of the requested page as Kommo JSON, so even the `large` account
(about a million leads) is served without holding pages as strings in memory. The same tables,
written as Parquet by ``--dump``, are the ground truth that sync tests compare a warehouse to.

Conventions: timestamps are Unix seconds (BIGINT, UTC) as on the wire; JSON columns hold the
exact JSON the API serves for that field; ``NULL`` where the real API sends ``null``.
"""

from __future__ import annotations

from kommo_analytics.kommo.entities import TRACKING_COLUMNS as ENTITY_TRACKING_COLUMNS

DDL = """
CREATE TABLE account (
    id BIGINT PRIMARY KEY, name VARCHAR, subdomain VARCHAR,
    created_at BIGINT, created_by BIGINT, updated_at BIGINT, updated_by BIGINT,
    current_user_id BIGINT, country VARCHAR, currency VARCHAR, currency_symbol VARCHAR,
    customers_mode VARCHAR, is_unsorted_on BOOLEAN, is_loss_reason_enabled BOOLEAN,
    is_helpbot_enabled BOOLEAN, is_technical_account BOOLEAN, contact_name_display_order INTEGER,
    amojo_id VARCHAR, uuid VARCHAR, version INTEGER,
    timezone VARCHAR, timezone_offset VARCHAR,
    date_pattern VARCHAR, short_date_pattern VARCHAR, short_time_pattern VARCHAR,
    date_format VARCHAR, time_format VARCHAR
);
CREATE TABLE users_groups (id BIGINT PRIMARY KEY, name VARCHAR, uuid VARCHAR);
CREATE TABLE task_types (
    id BIGINT PRIMARY KEY, name VARCHAR, code VARCHAR, color VARCHAR, icon_id INTEGER
);
CREATE TABLE users (
    id BIGINT PRIMARY KEY, name VARCHAR, email VARCHAR, lang VARCHAR,
    is_admin BOOLEAN, is_free BOOLEAN, is_active BOOLEAN,
    group_id BIGINT,            -- users_groups.id; 0 = the default group
    role_id BIGINT
);
CREATE TABLE pipelines (
    id BIGINT PRIMARY KEY, name VARCHAR, sort INTEGER,
    is_main BOOLEAN, is_unsorted_on BOOLEAN, is_archive BOOLEAN
);
CREATE TABLE statuses (
    id BIGINT, pipeline_id BIGINT, name VARCHAR, sort INTEGER,
    type INTEGER,               -- 1 = incoming leads, 0 = regular (142 and 143 are type 0)
    color VARCHAR, is_editable BOOLEAN,
    PRIMARY KEY (pipeline_id, id)
);
CREATE TABLE loss_reasons (
    id BIGINT PRIMARY KEY, name VARCHAR, sort INTEGER, created_at BIGINT, updated_at BIGINT
);
CREATE TABLE custom_fields (
    id BIGINT PRIMARY KEY,
    entity_type VARCHAR,        -- 'leads' or 'contacts'
    name VARCHAR, code VARCHAR, type VARCHAR, sort INTEGER,
    is_api_only BOOLEAN, is_predefined BOOLEAN, is_deletable BOOLEAN,
    enums VARCHAR               -- JSON array [{id, value, sort}] or NULL
);
CREATE TABLE tags (id BIGINT PRIMARY KEY, entity_type VARCHAR, name VARCHAR, color VARCHAR);
CREATE TABLE sources (
    id BIGINT PRIMARY KEY, name VARCHAR, pipeline_id BIGINT, external_id VARCHAR,
    origin_code VARCHAR
);
CREATE TABLE companies (
    id BIGINT PRIMARY KEY, name VARCHAR, responsible_user_id BIGINT, group_id BIGINT,
    created_by BIGINT, updated_by BIGINT, created_at BIGINT, updated_at BIGINT,
    closest_task_at BIGINT, is_deleted BOOLEAN
);
CREATE TABLE contacts (
    id BIGINT PRIMARY KEY, name VARCHAR, first_name VARCHAR, last_name VARCHAR,
    responsible_user_id BIGINT, group_id BIGINT, created_by BIGINT, updated_by BIGINT,
    created_at BIGINT, updated_at BIGINT, closest_task_at BIGINT, is_deleted BOOLEAN,
    company_id BIGINT,          -- NULL when the contact has no company
    tag_ids BIGINT[]            -- tags.id, in display order
);
CREATE TABLE leads (
    id BIGINT PRIMARY KEY, name VARCHAR,
    price BIGINT,               -- account currency; NULL only where the account left it empty
    responsible_user_id BIGINT, group_id BIGINT,
    status_id BIGINT, pipeline_id BIGINT, loss_reason_id BIGINT, source_id BIGINT,
    created_by BIGINT, updated_by BIGINT, created_at BIGINT, updated_at BIGINT,
    closed_at BIGINT, closest_task_at BIGINT,
    is_deleted BOOLEAN,         -- deleted but restorable: hidden from /leads, shown by with=only_deleted
    deleted_at BIGINT,          -- internal: when it went to the trash
    score INTEGER, labor_cost INTEGER,
    -- tracking_data custom fields (field ids come from custom_fields by code); NULL = absent
    utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR, utm_content VARCHAR,
    utm_term VARCHAR, referrer VARCHAR, gclid VARCHAR, fbclid VARCHAR,
    product_enum_id BIGINT,     -- select field code NULL, name 'Produto'
    quantity BIGINT,            -- numeric field 'Quantidade' (served as a string)
    company_id BIGINT,
    tag_ids BIGINT[]
);
CREATE TABLE lead_tracking (   -- tracking_data fields beyond the eight lead columns above
    lead_id BIGINT, field_id BIGINT,  -- custom_fields.id (its code names the tracking code)
    value VARCHAR, PRIMARY KEY (lead_id, field_id)
);
CREATE TABLE lead_contacts (
    lead_id BIGINT, contact_id BIGINT, is_main BOOLEAN, PRIMARY KEY (lead_id, contact_id)
);
CREATE TABLE events (
    id VARCHAR PRIMARY KEY,     -- ULID-like string, as Kommo sends
    seq BIGINT,                 -- internal: insertion order, a stable tie-breaker
    type VARCHAR, entity_id BIGINT,
    entity_type VARCHAR,        -- singular: 'lead', 'contact', 'task', ...
    created_by BIGINT, created_at BIGINT,
    value_before VARCHAR,       -- JSON array exactly as served
    value_after VARCHAR         -- JSON array exactly as served
);
CREATE TABLE tasks (
    id BIGINT PRIMARY KEY, created_by BIGINT, updated_by BIGINT,
    created_at BIGINT, updated_at BIGINT, responsible_user_id BIGINT, group_id BIGINT,
    entity_id BIGINT, entity_type VARCHAR,   -- plural: 'leads', 'contacts'; both NULL if unlinked
    duration BIGINT, is_completed BOOLEAN, task_type_id BIGINT, text VARCHAR,
    result_text VARCHAR,        -- NULL -> served as "result": []
    complete_till BIGINT,
    completed_at BIGINT         -- internal: when it was completed (also a task_completed event)
);
CREATE TABLE notes (
    id BIGINT PRIMARY KEY,
    entity_type VARCHAR,        -- plural: 'leads' or 'contacts' (selects the endpoint)
    entity_id BIGINT, created_by BIGINT, updated_by BIGINT,
    created_at BIGINT, updated_at BIGINT, responsible_user_id BIGINT, group_id BIGINT,
    note_type VARCHAR,          -- 'call_in', 'call_out', 'common', 'service_message', ...
    params VARCHAR              -- JSON object exactly as served
);
CREATE TABLE unsorted (
    uid VARCHAR PRIMARY KEY, source_uid VARCHAR, source_name VARCHAR,
    category VARCHAR,           -- 'sip', 'mail', 'forms', 'chats'
    pipeline_id BIGINT, created_at BIGINT, lead_id BIGINT,
    status VARCHAR,             -- 'accepted', 'declined' or 'pending'
    sorted_at BIGINT            -- when accepted or declined
);
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""

TABLES: tuple[str, ...] = (
    "account", "users_groups", "task_types", "users", "pipelines", "statuses",
    "loss_reasons", "custom_fields", "tags", "sources", "companies", "contacts", "leads",
    "lead_tracking", "lead_contacts", "events", "tasks", "notes", "unsorted", "meta",
)  # fmt: skip

# Lead columns that are tracking_data custom fields, keyed by their Kommo field_code.
TRACKING_COLUMNS = ENTITY_TRACKING_COLUMNS
