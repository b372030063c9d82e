"""The analytics model: a small star schema derived from the raw tables, declared once as data.

The raw tables (``tables.py``) mirror Kommo; the model is what the metrics read. It is rebuilt
after every sync (``model_build.py`` computes it, ``model_store.py`` writes it in one
transaction). Two kinds of tables live here:

- *derived* tables, replaced whole by every build;
- *input* tables the user fills (imported costs and goals) and forecast snapshots, which a
  build never touches.

Timestamps in the model are naive UTC (``*_at``) with, where the metrics bucket by day, a naive
*local* twin in the account's time zone (``*_local``). Period filters compare the local twin with
local midnights, so every backend buckets the same way without time-zone support of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from kommo_analytics.kommo.entities import TRACKING_COLUMNS
from kommo_analytics.warehouse.backends import backend_for, type_name
from kommo_analytics.warehouse.target import Kind, Target

# Bumped whenever a derived table's columns change: a build then drops and re-creates them.
MODEL_VERSION = 3

# The model's own schema on DuckDB and PostgreSQL (MySQL has no schemas inside a database: the
# model sits beside the raw tables in the URL's database, which is why raw and model table names
# never collide).
MODEL_SCHEMA = "kommo_model"


class M(StrEnum):
    BIGINT = "bigint"
    DOUBLE = "double"
    MONEY = "money"  # DECIMAL(18, 2): imported amounts keep their cents exactly
    TEXT = "text"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"


@dataclass(frozen=True)
class ModelColumn:
    name: str
    type: M


@dataclass(frozen=True)
class ModelTable:
    name: str
    columns: tuple[ModelColumn, ...]
    derived: bool = True  # False: user input or history, never rebuilt
    key: tuple[str, ...] = ()  # primary key
    # Secondary indexes. MariaDB joins and filters the model's tables with nested loops and
    # needs them (a medium account's funnel query ran for minutes without); PostgreSQL uses
    # them for the period filters. DuckDB gets none: its zone maps serve it better.
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def ibis_schema(self) -> dict[str, str]:
        types = {
            M.BIGINT: "int64",
            M.DOUBLE: "float64",
            M.MONEY: "decimal(18, 2)",
            M.TEXT: "string",
            M.BOOL: "boolean",
            M.TIMESTAMP: "timestamp",
            M.DATE: "date",
        }
        return {c.name: types[c.type] for c in self.columns}


def _cols(spec: str) -> tuple[ModelColumn, ...]:
    return tuple(
        ModelColumn(name, M(type_))
        for name, type_ in (item.split() for item in spec.replace("\n", " ").split(","))
    )


_TRACKING = ", ".join(f"{column} text" for column in TRACKING_COLUMNS.values())

MODEL_TABLES: dict[str, ModelTable] = {
    t.name: t
    for t in (
        # item/value facts about the build: timezone, currency, subdomain, built_at, version
        ModelTable("model_info", _cols("item text, value text")),
        ModelTable(
            "dim_users",
            _cols("user_id bigint, name text, email text, is_active bool, group_id bigint"),
        ),
        ModelTable(
            "dim_pipelines",
            _cols("pipeline_id bigint, name text, sort bigint, is_main bool, is_archive bool"),
        ),
        # stage_order: 1..n along the pipeline for open stages; NULL for won (142) / lost (143)
        ModelTable(
            "dim_stages",
            _cols(
                "pipeline_id bigint, status_id bigint, name text, sort bigint, "
                "stage_order bigint, outcome text"
            ),
        ),
        ModelTable("dim_loss_reasons", _cols("loss_reason_id bigint, name text")),
        ModelTable("dim_channels", _cols("channel text, label text, rule_order bigint, rule text")),
        # kind: follow_up (type 1), meeting (type 2) or other
        ModelTable("dim_task_types", _cols("task_type_id bigint, name text, kind text")),
        ModelTable(
            "fact_leads",
            _cols(
                "lead_id bigint, name text, pipeline_id bigint, status_id bigint, outcome text, "
                "responsible_user_id bigint, created_by bigint, price double, "
                "loss_reason_id bigint, loss_reason text, channel text, "
                f"{_TRACKING}, tags text, tracking_fields bigint, tag_count bigint, "
                "created_at timestamp, created_local timestamp, "
                "closed_at timestamp, closed_local timestamp, "
                "first_response_at timestamp, response_hours double, cycle_days double, "
                "is_deleted bool, entry_status_id bigint, max_stage_order bigint, "
                "ever_won bool, last_open_pipeline_id bigint, last_open_status_id bigint, "
                "status_changes bigint"
            ),
        ),
        # One row per stay of a lead in a stage, in order (seq 0 = the stage it was created in).
        ModelTable(
            "fact_stage_stays",
            _cols(
                "lead_id bigint, seq bigint, pipeline_id bigint, status_id bigint, "
                "entered_at timestamp, entered_local timestamp, left_at timestamp, "
                "hours double, next_pipeline_id bigint, next_status_id bigint, "
                "moved_by bigint"
            ),
        ),
        ModelTable(
            "fact_tasks",
            _cols(
                "task_id bigint, task_type_id bigint, kind text, type_name text, "
                "responsible_user_id bigint, created_by bigint, entity_type text, "
                "entity_id bigint, lead_id bigint, created_at timestamp, "
                "complete_till timestamp, complete_till_local timestamp, is_completed bool, "
                "completed_at timestamp, on_time bool, lead_deleted bool"
            ),
        ),
        # Calls, chat messages, e-mails and SMS: one row per Kommo event.
        ModelTable(
            "fact_activities",
            _cols(
                "event_id text, type text, medium text, direction text, created_by bigint, "
                "created_at timestamp, created_local timestamp, entity_type text, "
                "entity_id bigint, lead_id bigint, contact_id bigint, call_seconds double, "
                "lead_deleted bool"
            ),
        ),
        ModelTable(
            "input_costs",
            _cols(
                "day date, channel text, utm_campaign text, amount money, "
                "imported_at timestamp, source text"
            ),
            derived=False,
        ),
        ModelTable(
            "input_goals",
            _cols(
                "month date, user_id bigint, revenue_goal money, deals_goal bigint, "
                "imported_at timestamp, source text"
            ),
            derived=False,
        ),
        # The company's forecast as each sync showed it, one per account-local day (made_on) and
        # month forecast; kept across builds so closed months can be scored (docs/forecast.md).
        ModelTable(
            "forecast_snapshots",
            _cols(
                "made_on date, as_of timestamp, month date, revenue_p10 money, "
                "revenue_p50 money, revenue_p90 money, won_deals_p10 double, "
                "won_deals_p50 double, won_deals_p90 double, method text, seed bigint"
            ),
            derived=False,
        ),
        # Data-quality checks (service/quality.py), one row per run: the score's trend.
        ModelTable(
            "quality_runs",
            _cols(
                "checked_at timestamp, score double, rules bigint, errors bigint, reconciled bool"
            ),
            derived=False,
        ),
        # Each rule's result per run (kept for the newest runs; sample: failing lead ids, JSON).
        ModelTable(
            "quality_results",
            _cols(
                "checked_at timestamp, rule text, severity text, checked bigint, failing bigint, "
                "score double, sample text, values_json text"
            ),
            derived=False,
        ),
        ModelTable(
            "quality_sellers",
            _cols(
                "checked_at timestamp, user_id bigint, name text, checked bigint, "
                "failing bigint, score double"
            ),
            derived=False,
        ),
    )
}

_KEYS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "dim_users": (("user_id",), ()),
    "dim_pipelines": (("pipeline_id",), ()),
    "dim_stages": (("pipeline_id", "status_id"), ()),
    "dim_loss_reasons": (("loss_reason_id",), ()),
    "dim_task_types": (("task_type_id",), ()),
    "fact_leads": (
        ("lead_id",),
        (("created_local",), ("closed_local",), ("pipeline_id", "status_id")),
    ),
    "fact_stage_stays": (("lead_id", "seq"), (("pipeline_id", "status_id"),)),
    "fact_tasks": (("task_id",), (("complete_till_local",), ("lead_id",))),
    "fact_activities": ((), (("created_local",), ("lead_id",))),
    "forecast_snapshots": (("made_on", "month"), ()),
    "quality_runs": (("checked_at",), ()),
    "quality_results": ((), (("checked_at",),)),
    "quality_sellers": ((), (("checked_at",),)),
}
MODEL_TABLES = {
    name: replace(table, key=_KEYS[name][0], indexes=_KEYS[name][1]) if name in _KEYS else table
    for name, table in MODEL_TABLES.items()
}

DERIVED = tuple(t for t in MODEL_TABLES.values() if t.derived)


def model_schema(target: Target) -> str:
    """Where the model lives: its own schema, or the URL's database on MySQL."""
    return backend_for(target).model_schema(MODEL_SCHEMA)


def model_qualified(target: Target, table: str) -> str:
    return backend_for(target).qualified(table, model_schema(target))


def sql_type(kind: Kind, type_: M) -> str:
    return type_name(kind, type_)


def create_sql(target: Target, table: ModelTable) -> str:
    backend = backend_for(target)
    columns = [
        f"{backend.quote(c.name)} {backend.type_name(c.type)}"
        + (" NOT NULL" if c.name in table.key else "")
        for c in table.columns
    ]
    if table.key:
        columns.append(f"PRIMARY KEY ({', '.join(backend.quote(k) for k in table.key)})")
    return (
        f"CREATE TABLE IF NOT EXISTS {model_qualified(target, table.name)} ({', '.join(columns)})"
    )


def index_sql(target: Target, table: ModelTable) -> list[str]:
    backend = backend_for(target)
    if not backend.has_indexes:
        return []
    statements = []
    for columns in table.indexes:
        name = f"ix_{table.name}_{'_'.join(columns)}"
        cols = ", ".join(backend.quote(c) for c in columns)
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {backend.quote(name)} "
            f"ON {model_qualified(target, table.name)} ({cols})"
        )
    return statements
