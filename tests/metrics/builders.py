"""Tiny hand-built Kommo accounts for the metric tests, and a runner that computes the report.

Every timestamp given to a builder is **UTC**, as Kommo sends it; the account lives in
``America/Sao_Paulo`` (UTC−3 all year, no DST since 2019), so 13:00 UTC is 10:00 local. Use
:func:`local` where the local wall clock is the point of a test.

A test reads like a story::

    data = raw(
        leads=[lead(1, created="2026-10-05 13:00", status=WON, price=1000, closed="2026-10-20 15:00")],
        events=[move(1, "2026-10-06 13:00", NEW, PROPOSAL)],
    )
    report = run(data, params())

:func:`run` builds the model exactly as a sync does (``build_model``), loads every model table
into an in-memory DuckDB under the ``kommo_model`` schema, and runs ``report.compute`` with an
executor that compiles each Ibis expression to DuckDB SQL, as ``model/query.py`` does.
"""

from __future__ import annotations

import itertools
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.metrics import report
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model.build import RawFrames, build_model
from kommo_analytics.model.channels import DEFAULT_CHANNELS, ChannelRules
from kommo_analytics.model.schema import MODEL_SCHEMA, MODEL_TABLES, ModelTable, sql_type
from kommo_analytics.warehouse.tables import TABLES, T
from kommo_analytics.warehouse.target import Kind

# The model's columns as the metrics take them (passed in: metrics/ imports no model/).
MODEL_COLUMNS = {name: table.ibis_schema for name, table in MODEL_TABLES.items()}

Row = dict[str, Any]

TZ = "America/Sao_Paulo"
CURRENCY = "BRL"
BUILT_AT = datetime(2026, 11, 15, 15, 0, tzinfo=UTC)

# -- the account's dictionaries ---------------------------------------------------------------------

# Pipeline "Sales": three open stages in this order, then the terminal won/lost statuses.
PIPELINE = 10
NEW, QUALIFIED, PROPOSAL = 101, 102, 103
WON, LOST = 142, 143
# A second, small pipeline, for the pipeline filter.
PARTNERS = 20
PARTNER_TALK = 201

# Users. 0 is not a user: it is what Kommo writes for a robot, an integration or automation.
ANA, BRUNO, CARLA = 11, 12, 13
ROBOT = 0
USER_NAMES = {ANA: "Ana", BRUNO: "Bruno", CARLA: "Carla"}

PRICE_TOO_HIGH, NO_BUDGET = 1, 2
LOSS_REASON_NAMES = {PRICE_TOO_HIGH: "Price too high", NO_BUDGET: "No budget"}

FOLLOW_UP, MEETING, VISIT = 1, 2, 7

# A contact id space of its own, so a contact is never mistaken for a lead in a test.
MARIA, JOAO = 9001, 9002


def local(wall_clock: str) -> str:
    """A São Paulo wall-clock time as the UTC text Kommo would send: 23:30 → 02:30 next day."""
    moment = datetime.fromisoformat(wall_clock).replace(tzinfo=ZoneInfo(TZ))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- rows -------------------------------------------------------------------------------------------

_event_ids = itertools.count(1)


def lead(
    id: int,
    created: str = "2026-10-05 13:00",
    *,
    status: int = NEW,
    pipeline: int = PIPELINE,
    price: float | None = None,
    created_by: int = ANA,
    responsible: int = ANA,
    closed: str | None = None,
    loss_reason: int | None = None,
    tags: Sequence[str] = (),
    deleted: bool = False,
    utm_source: str | None = None,
    utm_medium: str | None = None,
    utm_campaign: str | None = None,
    gclid: str | None = None,
) -> Row:
    """A lead as the raw ``leads`` table holds it. Defaults: created by Ana, a person, with no
    UTM field at all — the contract's ``outbound`` channel."""
    return {
        "id": id,
        "name": f"Lead {id}",
        "price": price,
        "responsible_user_id": responsible,
        "status_id": status,
        "pipeline_id": pipeline,
        "loss_reason_id": loss_reason,
        "created_by": created_by,
        "created_at": created,
        "updated_at": closed or created,
        "closed_at": closed,
        "is_deleted": deleted,
        "tags": json.dumps(list(tags), ensure_ascii=False),
        "utm_source": utm_source,
        "utm_medium": utm_medium,
        "utm_campaign": utm_campaign,
        "gclid": gclid,
    }


def trashed(id: int, deleted: str = "2026-10-20 12:00") -> Row:
    """A lead known only from Kommo's trash listing (``with=only_deleted``): its id, the time it
    was deleted and the deleted flag, nothing else — not even its creation time."""
    return {"id": id, "updated_at": deleted, "is_deleted": True, "deleted_at": deleted}


def event(
    type: str,
    entity: int,
    entity_type: str = "lead",
    at: str = "2026-10-05 13:00",
    by: int = ANA,
    *,
    note: int | None = None,
    before: Any = None,
    after: Any = None,
) -> Row:
    """Any Kommo event; ``note`` links a call event to its call note."""
    if note is not None:
        after = [{"note": {"id": note}}]
    return {
        # Kommo's event ids sort in time order; zero-padded so text order is number order.
        "id": f"ev{next(_event_ids):08d}",
        "type": type,
        "entity_id": entity,
        "entity_type": entity_type,
        "created_by": by,
        "created_at": at,
        "value_before": None if before is None else json.dumps(before),
        "value_after": None if after is None else json.dumps(after),
    }


def move(
    lead_id: int,
    at: str,
    from_status: int,
    to_status: int,
    *,
    by: int = ANA,
    pipeline: int = PIPELINE,
    to_pipeline: int | None = None,
) -> Row:
    """A ``lead_status_changed`` event: the lead left ``from_status`` for ``to_status``."""
    return event(
        "lead_status_changed",
        lead_id,
        "lead",
        at,
        by,
        before=[{"lead_status": {"id": from_status, "pipeline_id": pipeline}}],
        after=[{"lead_status": {"id": to_status, "pipeline_id": to_pipeline or pipeline}}],
    )


def task(
    id: int,
    due: str,
    *,
    type: int = FOLLOW_UP,
    responsible: int = ANA,
    lead: int | None = None,
    contact: int | None = None,
    completed: bool = False,
    updated: str | None = None,
    created: str = "2026-10-01 12:00",
) -> Row:
    """A task on a lead (or a contact), due at ``due``; ``updated`` is Kommo's ``updated_at``."""
    return {
        "id": id,
        "created_by": responsible,
        "updated_by": responsible,
        "created_at": created,
        "updated_at": updated or created,
        "responsible_user_id": responsible,
        "entity_id": lead if lead is not None else contact,
        "entity_type": "leads" if lead is not None else "contacts",
        "is_completed": completed,
        "task_type_id": type,
        "text": f"Task {id}",
        "complete_till": due,
    }


def task_completed(task_id: int, at: str, by: int = ANA) -> Row:
    return event("task_completed", task_id, "task", at, by)


def call_note(id: int, entity: int, duration_seconds: int, *, entity_type: str = "leads") -> Row:
    """The note Kommo attaches to a call; its ``duration`` gives the call minutes."""
    return {
        "entity_type": entity_type,
        "id": id,
        "entity_id": entity,
        "note_type": "call_out",
        "duration": duration_seconds,
    }


def tracking(lead_id: int, code: str, value: str, *, name: str | None = None) -> Row:
    """A tracking field of a lead as the raw ``lead_tracking`` table holds it."""
    return {
        "lead_id": lead_id,
        "code": code,
        "name": name if name is not None else code.lower(),
        "field_id": None,
        "field_type": "tracking_data",
        "value": value,
    }


def link(lead_id: int, contact_id: int, *, main: bool = True) -> Row:
    return {"lead_id": lead_id, "contact_id": contact_id, "is_main": main}


def cost(day: str, channel: str, amount: float, utm_campaign: str | None = None) -> Row:
    return {
        "day": date.fromisoformat(day),
        "channel": channel,
        "utm_campaign": utm_campaign,
        "amount": amount,
        "imported_at": BUILT_AT.replace(tzinfo=None),
        "source": "test",
    }


def goal(month: str, user: int, revenue: float, deals: int | None = None) -> Row:
    return {
        "month": date.fromisoformat(f"{month}-01"),
        "user_id": user,
        "revenue_goal": revenue,
        "deals_goal": deals,
        "imported_at": BUILT_AT.replace(tzinfo=None),
        "source": "test",
    }


# -- frames -----------------------------------------------------------------------------------------


def _table(name: str, rows: Iterable[Row]) -> pd.DataFrame:
    """Rows with exactly the raw table's columns (``raw`` JSON left out, as the model reads it)."""
    columns = [c for c in TABLES[name].column_names if c != "raw"]
    rows = list(rows)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame = pd.DataFrame.from_records(rows, columns=columns)
    # Timestamps as a driver returns them: aware UTC datetimes, whatever text the test wrote.
    for column in TABLES[name].columns:
        if column.type is T.TIMESTAMP:
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True, format="ISO8601")
    return frame


def account_rows() -> list[Row]:
    return [
        {
            "id": 1,
            "name": "Loja Teste",
            "subdomain": "lojateste",
            "currency": CURRENCY,
            "currency_symbol": "R$",
            "timezone": TZ,
        }
    ]


def pipeline_rows() -> tuple[list[Row], list[Row]]:
    pipelines = [
        {"id": PIPELINE, "name": "Sales", "sort": 1, "is_main": True, "is_archive": False},
        {"id": PARTNERS, "name": "Partners", "sort": 2, "is_main": False, "is_archive": False},
    ]
    statuses = [
        # Listed out of order on purpose: the order comes from `sort`.
        {"pipeline_id": PIPELINE, "id": PROPOSAL, "name": "Proposal", "sort": 30},
        {"pipeline_id": PIPELINE, "id": NEW, "name": "New lead", "sort": 10},
        {"pipeline_id": PIPELINE, "id": QUALIFIED, "name": "Qualified", "sort": 20},
        {"pipeline_id": PIPELINE, "id": WON, "name": "Won", "sort": 10000},
        {"pipeline_id": PIPELINE, "id": LOST, "name": "Lost", "sort": 11000},
        {"pipeline_id": PARTNERS, "id": PARTNER_TALK, "name": "Talking", "sort": 10},
        {"pipeline_id": PARTNERS, "id": WON, "name": "Won", "sort": 10000},
        {"pipeline_id": PARTNERS, "id": LOST, "name": "Lost", "sort": 11000},
    ]
    return pipelines, statuses


def raw(
    *,
    leads: Iterable[Row] = (),
    events: Iterable[Row] = (),
    tasks: Iterable[Row] = (),
    notes: Iterable[Row] = (),
    contacts: Iterable[Row] = (),
    tracking: Iterable[Row] = (),
    configured: bool = True,
) -> RawFrames:
    """The raw tables of a small account: one "Sales" pipeline (New lead → Qualified → Proposal,
    then Won/Lost) plus "Partners", users Ana, Bruno and Carla, two loss reasons and the task
    types Follow-up (1), Meeting (2) and Visit (7). ``configured=False`` gives a warehouse with
    nothing at all in it, not even the account."""
    pipelines, statuses = pipeline_rows() if configured else ([], [])
    users = [
        {"id": uid, "name": name, "email": f"{name.lower()}@example.com", "is_active": True}
        for uid, name in USER_NAMES.items()
    ]
    return RawFrames(
        account=_table("account", account_rows() if configured else []),
        users=_table("users", users if configured else []),
        pipelines=_table("pipelines", pipelines),
        statuses=_table("statuses", statuses),
        loss_reasons=_table(
            "loss_reasons",
            [{"id": k, "name": v} for k, v in LOSS_REASON_NAMES.items()] if configured else [],
        ),
        task_types=_table(
            "task_types",
            [
                {"id": FOLLOW_UP, "name": "Follow-up"},
                {"id": MEETING, "name": "Meeting"},
                {"id": VISIT, "name": "Visit"},
            ]
            if configured
            else [],
        ),
        leads=_table("leads", leads),
        lead_contacts=_table("lead_contacts", contacts),
        events=_table("events", events),
        tasks=_table("tasks", tasks),
        call_notes=_table("call_notes", notes),
        lead_tracking=_table("lead_tracking", tracking),
    )


# -- parameters and the run -------------------------------------------------------------------------

# "Now" for every test unless it says otherwise: 15 Nov 2026, 12:00 in São Paulo.
AS_OF = datetime(2026, 11, 15, 12, 0, tzinfo=ZoneInfo(TZ))


def params(
    start: str = "2026-10-01",
    end: str = "2026-10-31",
    *,
    as_of: datetime | str = AS_OF,
    **options: Any,
) -> MetricParams:
    """October 2026 in the account's time zone, seen from ``AS_OF``, unless told otherwise."""
    moment = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return MetricParams(
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
        as_of=moment,
        timezone=TZ,
        **options,
    )


def model(data: RawFrames) -> dict[str, pd.DataFrame]:
    """The derived model tables, built as a sync builds them."""
    return build_model(data, ChannelRules.default(), built_at=BUILT_AT)


def _create(con: duckdb.DuckDBPyConnection, table: ModelTable, frame: pd.DataFrame) -> None:
    columns = ", ".join(f'"{c.name}" {sql_type(Kind.DUCKDB, c.type)}' for c in table.columns)
    con.execute(f'CREATE TABLE {MODEL_SCHEMA}."{table.name}" ({columns})')
    if len(frame):
        con.register("_rows", frame[list(table.column_names)])
        con.execute(f'INSERT INTO {MODEL_SCHEMA}."{table.name}" SELECT * FROM _rows')
        con.unregister("_rows")


def warehouse(
    data: RawFrames,
    *,
    costs: Sequence[Row] = (),
    goals: Sequence[Row] = (),
    snapshots: Sequence[Row] = (),
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the built model plus the input tables."""
    tables = model(data)
    inputs = {"input_costs": costs, "input_goals": goals, "forecast_snapshots": snapshots}
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE SCHEMA {MODEL_SCHEMA}")
    for name, table in MODEL_TABLES.items():
        # History tables no metric reads (the data-quality runs) are created empty.
        rows = inputs.get(name, ())
        frame = tables[name] if table.derived else pd.DataFrame(list(rows))
        _create(con, table, frame)
    return con


def executor(con: duckdb.DuckDBPyConnection) -> report.Executor:
    """Runs each expression as DuckDB SQL and returns plain rows, as ``query.run_all`` does."""

    def execute(queries: Mapping[str, ir.Table]) -> dict[str, pd.DataFrame]:
        results: dict[str, pd.DataFrame] = {}
        for name, expr in queries.items():
            cur = con.execute(str(ibis.to_sql(expr, dialect="duckdb")))
            columns = [d[0] for d in cur.description]
            results[name] = pd.DataFrame.from_records(
                [tuple(r) for r in cur.fetchall()], columns=columns
            )
        return results

    return execute


class LazyReport(dict[str, Any]):
    """The report of :func:`run`, computing a section the first time a test reads it: a test of
    one module compiles and runs that module's queries only, not the whole report's 28."""

    def __init__(self, con: duckdb.DuckDBPyConnection, p: MetricParams) -> None:
        self._con, self._p = con, p
        weakref.finalize(self, con.close)
        super().__init__(self._compute(()))

    def _compute(self, sections: Sequence[str]) -> dict[str, Any]:
        return report.compute(
            Model(MODEL_COLUMNS, MODEL_SCHEMA),
            self._p,
            executor(self._con),
            currency=CURRENCY,
            channels=DEFAULT_CHANNELS,
            sections=sections,
        )

    def __missing__(self, key: str) -> Any:
        if key not in report.SECTIONS:
            raise KeyError(key)
        value = self[key] = self._compute((key,))[key]
        return value


def run(
    data: RawFrames,
    p: MetricParams | None = None,
    *,
    costs: Sequence[Row] = (),
    goals: Sequence[Row] = (),
    whole: bool = False,
) -> dict[str, Any]:
    """The contract's JSON object for ``data`` (October 2026 unless ``p`` says otherwise).

    Sections are computed when first read; ``whole=True`` computes them all at once, in the
    report's key order (for tests of the whole document: JSON, key walks, round trips)."""
    con = warehouse(data, costs=costs, goals=goals)
    lazy = LazyReport(con, p or params())
    if not whole:
        return lazy
    try:
        return lazy._compute(tuple(report.SECTIONS)) | {}
    finally:
        con.close()


# -- reading the report -----------------------------------------------------------------------------


def funnel_of(result: Mapping[str, Any], pipeline: int = PIPELINE) -> dict[str, Any]:
    return next(f for f in result["funnel"] if f["pipeline_id"] == pipeline)


def stage(result: Mapping[str, Any], status_id: int, pipeline: int = PIPELINE) -> dict[str, Any]:
    return next(s for s in funnel_of(result, pipeline)["stages"] if s["status_id"] == status_id)


def seller(result: Mapping[str, Any], user_id: int) -> dict[str, Any]:
    return next(s for s in result["sellers"] if s["user_id"] == user_id)


def channel_row(result: Mapping[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in result["channels"] if c["channel"] == key)
