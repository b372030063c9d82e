"""Data-quality checks (`kommo-analytics check`, the Data health page, the step after each sync).

Each rule looks at rows of the model or the raw tables and says how many it checked, how many
fail, a score (100 × passed / checked; a rule with nothing to check scores 100 and says so) and a
sample of the failing leads, so a page can link them to Kommo. The scores are combined per seller
(the lead's responsible user) and overall, weighted by severity (the formula is in
docs/operations.md, "Data-quality checks"). Every run is stored (``quality_runs``,
``quality_results``, ``quality_sellers``: history tables a model build never touches), so the
score has a trend.

The rules themselves are pure functions of small frames (:class:`Inputs`), read in one go
from the warehouse; the reconciliation against the API is the one rule that asks Kommo, and it
says why when it cannot (never a silent pass).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import httpx
import pandas as pd

from kommo_analytics.errors import KommoAnalyticsError, first_line
from kommo_analytics.kommo.entities import LEADS, LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.metrics import series as metric_series
from kommo_analytics.metrics.common import Model
from kommo_analytics.model import store as model_store
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified, model_schema
from kommo_analytics.service import _sql
from kommo_analytics.service.reports import TABLE_COLUMNS
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.text import i18n
from kommo_analytics.text.languages import Locale
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target, parse_database_url

log = logging.getLogger(__name__)

SAMPLE_SIZE: Final = 200  # failing lead ids kept per rule: enough to act on, small to store
# Results and per-seller rows are kept for this many runs (the page shows the latest); the runs'
# scores, the trend, are kept for ever (one short row each).
RESULTS_KEPT: Final = 100
# A stream whose watermark is this far behind the newest one was left out of recent syncs.
SYNC_GAP_HOURS: Final = 24
# The reconciliation's sampled periods: whole UTC days this many days before the leads stream's
# watermark (yesterday, a week ago, four weeks ago): recent, yet closed.
RECONCILE_DAYS_BACK: Final = (1, 7, 28)
MIN_PHONE_DIGITS: Final = 8  # shorter "phones" are extensions or typing slips, not identities


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def weight(self) -> int:
        """The rule's weight in the overall and per-seller scores."""
        return {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}[self]


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome. ``values`` holds the message's extra placeholders (a skipped rule's
    ``reason``, the reconciliation's counts)."""

    rule: str
    severity: Severity
    checked: int
    failing: int
    score: float
    sample_lead_ids: tuple[int, ...] = ()
    values: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return "reason" in self.values

    @property
    def status(self) -> str:
        """``fail``, ``ok``, ``empty`` (nothing to check) or ``skipped`` (could not run)."""
        if self.skipped:
            return "skipped"
        if self.checked == 0:
            return "empty"
        return "fail" if self.failing else "ok"

    @property
    def message_key(self) -> str:
        """The catalogue key (``text/locales/quality.toml``) of its one-line message."""
        if self.status == "fail":
            return f"quality.{self.rule}.fail"
        return f"quality.{self.status}" if self.status != "skipped" else "quality.skipped"

    def message_values(self, locale: Locale) -> dict[str, str]:
        """The message's placeholders, the counts written as ``locale`` writes numbers."""
        return {
            "failing": i18n.number(self.failing, locale),
            "checked": i18n.number(self.checked, locale),
            **self.values,
        }


@dataclass(frozen=True)
class SellerScore:
    user_id: int
    name: str
    checked: int
    failing: int
    score: float


@dataclass(frozen=True)
class QualityRun:
    checked_at: datetime  # aware UTC, whole seconds
    score: float
    rules: tuple[RuleResult, ...]
    sellers: tuple[SellerScore, ...] = ()

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        """Error-level rules that fail."""
        return tuple(r for r in self.rules if r.severity is Severity.ERROR and r.failing > 0)

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


# -- the rules, pure ----------------------------------------------------------------------------

# (key, severity), in the order they are shown.
RULES: Final[tuple[tuple[str, Severity], ...]] = (
    ("unknown_pipeline", Severity.ERROR),
    ("unknown_stage", Severity.ERROR),
    ("closed_without_closed_at", Severity.ERROR),
    ("negative_duration", Severity.ERROR),
    ("reconciliation", Severity.ERROR),
    ("unknown_user", Severity.WARNING),
    ("won_without_price", Severity.WARNING),
    ("lost_without_reason", Severity.WARNING),
    ("stage_backwards", Severity.WARNING),
    ("task_without_lead", Severity.WARNING),
    ("duplicate_contacts", Severity.WARNING),
    ("sync_gaps", Severity.WARNING),
    ("unattributable", Severity.INFO),
    ("stage_skipped", Severity.INFO),
    ("deleted_leads", Severity.INFO),
)
SEVERITY: Final = dict(RULES)

_FRAMES: Final[dict[str, tuple[str, ...]]] = {
    "leads": (
        "lead_id", "pipeline_id", "status_id", "outcome", "responsible_user_id", "price",
        "loss_reason_id", "tracking_fields", "tag_count", "closed_at", "cycle_days",
        "response_hours", "is_deleted",
    ),
    "users": ("user_id", "name"),
    "pipelines": ("pipeline_id",),
    "stages": ("pipeline_id", "status_id", "stage_order"),
    "stays": ("lead_id", "pipeline_id", "status_id", "hours", "next_pipeline_id", "next_status_id"),
    "tasks": ("task_id", "entity_type", "entity_id", "lead_id"),
    "contacts": ("contact_id", "raw"),
    "lead_contacts": ("lead_id", "contact_id"),
    "streams": ("stream", "watermark"),
    "runs": ("status",),
}  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    """What the rules read, one frame each (columns as in ``_FRAMES``). ``runs`` holds the
    newest sync run only."""

    leads: pd.DataFrame
    users: pd.DataFrame
    pipelines: pd.DataFrame
    stages: pd.DataFrame
    stays: pd.DataFrame
    tasks: pd.DataFrame
    contacts: pd.DataFrame
    lead_contacts: pd.DataFrame
    streams: pd.DataFrame
    runs: pd.DataFrame

    @classmethod
    def empty(cls, **frames: pd.DataFrame) -> Inputs:
        """Empty frames except those given (the tests' hand-built data)."""
        made = {name: pd.DataFrame(columns=list(cols)) for name, cols in _FRAMES.items()}
        for name, frame in frames.items():
            made[name] = frame.reindex(columns=list(_FRAMES[name]))
        return cls(**made)


# One rule's rows: lead_id (may be missing) and failing, one row per checked thing.
Rows = pd.DataFrame


def _rows(lead_ids: Iterable[Any], failing: Iterable[Any]) -> Rows:
    return pd.DataFrame(
        {
            "lead_id": pd.array([_int_or_none(v) for v in lead_ids], dtype="Int64"),
            "failing": pd.array([bool(v) for v in failing], dtype=bool),
        }
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _ints(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("Int64")


def _live(leads: pd.DataFrame) -> pd.DataFrame:
    return leads[~leads["is_deleted"].fillna(False).astype(bool)]


def rule_won_without_price(i: Inputs) -> Rows:
    """Won leads whose price is missing or zero: revenue they brought is not counted."""
    won = _live(i.leads)
    won = won[won["outcome"] == "won"]
    price = pd.to_numeric(won["price"], errors="coerce")
    return _rows(won["lead_id"], price.isna() | (price <= 0))


def rule_lost_without_reason(i: Inputs) -> Rows:
    lost = _live(i.leads)
    lost = lost[lost["outcome"] == "lost"]
    reason = _ints(lost["loss_reason_id"])
    return _rows(lost["lead_id"], reason.isna() | (reason == 0))


def rule_unattributable(i: Inputs) -> Rows:
    """Leads with no tracking field and no tag: no channel rule can place them."""
    leads = _live(i.leads)
    tracking = _ints(leads["tracking_fields"]).fillna(0)
    tags = _ints(leads["tag_count"]).fillna(0)
    return _rows(leads["lead_id"], (tracking == 0) & (tags == 0))


def rule_unknown_user(i: Inputs) -> Rows:
    leads = _live(i.leads)
    known = set(_ints(i.users["user_id"]).dropna())
    user = _ints(leads["responsible_user_id"])
    return _rows(leads["lead_id"], [pd.isna(u) or u not in known for u in user])


def rule_unknown_pipeline(i: Inputs) -> Rows:
    leads = _live(i.leads)
    known = set(_ints(i.pipelines["pipeline_id"]).dropna())
    pipeline = _ints(leads["pipeline_id"])
    return _rows(leads["lead_id"], [pd.isna(p) or p not in known for p in pipeline])


def rule_unknown_stage(i: Inputs) -> Rows:
    """Leads of a known pipeline in a stage that pipeline does not have (an unknown pipeline is
    its own rule, not counted twice). Won and lost are stages of every pipeline in Kommo."""
    leads = _live(i.leads)
    known_pipelines = set(_ints(i.pipelines["pipeline_id"]).dropna())
    leads = leads[_ints(leads["pipeline_id"]).isin(known_pipelines).fillna(False).astype(bool)]
    stages = set(zip(_ints(i.stages["pipeline_id"]), _ints(i.stages["status_id"]), strict=True))
    failing = [
        pd.isna(s) or (s not in (WON_STATUS_ID, LOST_STATUS_ID) and (p, s) not in stages)
        for p, s in zip(_ints(leads["pipeline_id"]), _ints(leads["status_id"]), strict=True)
    ]
    return _rows(leads["lead_id"], failing)


def rule_closed_without_closed_at(i: Inputs) -> Rows:
    closed = _live(i.leads)
    closed = closed[closed["outcome"].isin(["won", "lost"])]
    return _rows(closed["lead_id"], closed["closed_at"].isna())


def _moves(i: Inputs) -> pd.DataFrame:
    """Moves between two open stages of one pipeline, with both stages' order."""
    order = {
        (p, s): o
        for p, s, o in zip(
            _ints(i.stages["pipeline_id"]),
            _ints(i.stages["status_id"]),
            _ints(i.stages["stage_order"]),
            strict=True,
        )
        if not pd.isna(o)
    }
    stays = i.stays
    pipeline, status = _ints(stays["pipeline_id"]), _ints(stays["status_id"])
    after_pipeline, after = _ints(stays["next_pipeline_id"]), _ints(stays["next_status_id"])
    frame = pd.DataFrame(
        {
            "lead_id": stays["lead_id"].to_numpy(),
            "from": [order.get((p, s)) for p, s in zip(pipeline, status, strict=True)],
            "to": [order.get((p, s)) for p, s in zip(after_pipeline, after, strict=True)],
            "same": (pipeline == after_pipeline).fillna(False).astype(bool).to_numpy(),
        }
    )
    return frame[frame["same"] & frame["from"].notna() & frame["to"].notna()]


def rule_stage_backwards(i: Inputs) -> Rows:
    """Moves to an earlier open stage of the same pipeline (moves into won/lost are not
    checked)."""
    moves = _moves(i)
    return _rows(moves["lead_id"], moves["to"].astype(int) < moves["from"].astype(int))


def rule_stage_skipped(i: Inputs) -> Rows:
    """Moves forward past at least one open stage of the same pipeline."""
    moves = _moves(i)
    return _rows(moves["lead_id"], moves["to"].astype(int) > moves["from"].astype(int) + 1)


def rule_negative_duration(i: Inputs) -> Rows:
    """Every duration the model computed: stage stays, sales cycles, first responses; one row
    each, failing below zero (an end before its start)."""
    stays = i.stays[pd.to_numeric(i.stays["hours"], errors="coerce").notna()]
    parts = [_rows(stays["lead_id"], pd.to_numeric(stays["hours"]) < 0)]
    leads = _live(i.leads)
    for column in ("cycle_days", "response_hours"):
        values = pd.to_numeric(leads[column], errors="coerce")
        present = values.notna()
        parts.append(_rows(leads["lead_id"][present], values[present] < 0))
    return pd.concat(parts, ignore_index=True)


def rule_task_without_lead(i: Inputs) -> Rows:
    """Tasks attached to nothing, or to a lead the warehouse does not have; a task on a contact
    or a company passes. Such a task has no lead to link: the sample holds the missing leads'
    ids when there are some."""
    tasks = i.tasks
    known = set(_ints(i.leads["lead_id"]).dropna())
    entity = _ints(tasks["entity_id"])
    kinds = tasks["entity_type"]
    failing, linked = [], []
    for kind, entity_id in zip(kinds, entity, strict=True):
        unattached = pd.isna(entity_id) or not isinstance(kind, str) or not kind
        missing = kind == "leads" and not pd.isna(entity_id) and entity_id not in known
        failing.append(unattached or missing)
        linked.append(entity_id if missing else None)
    return _rows(linked, failing)


_DIGITS = re.compile(r"\D+")


def contact_keys(raw: Any) -> set[str]:
    """A contact's phones (digits only, the last 11 — with or without the country code) and
    e-mails (lower case) from its Kommo JSON, prefixed so a phone never matches an e-mail."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return set()
    fields = data.get("custom_fields_values") if isinstance(data, dict) else None
    keys: set[str] = set()
    for item in fields if isinstance(fields, list) else []:
        if not isinstance(item, dict):
            continue
        code = str(item.get("field_code") or "").upper()
        values = item.get("values")
        for entry in values if isinstance(values, list) else []:
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str | int):
                continue
            if code == "PHONE":
                digits = _DIGITS.sub("", str(value))
                if len(digits) >= MIN_PHONE_DIGITS:
                    keys.add(f"phone:{digits[-11:]}")
            elif code == "EMAIL" and "@" in str(value):
                keys.add(f"email:{str(value).strip().lower()}")
    return keys


def rule_duplicate_contacts(i: Inputs) -> Rows:
    """Contacts sharing a phone or an e-mail with another contact; contacts with neither are not
    checked. The sample holds the leads of the duplicates."""
    keyed = [
        (int(cid), contact_keys(raw))
        for cid, raw in zip(i.contacts["contact_id"], i.contacts["raw"], strict=True)
        if not pd.isna(cid)
    ]
    keyed = [(cid, keys) for cid, keys in keyed if keys]
    owners: dict[str, set[int]] = {}
    for cid, keys in keyed:
        for key in keys:
            owners.setdefault(key, set()).add(cid)
    duplicates = {cid for cid, keys in keyed if any(len(owners[k]) > 1 for k in keys)}
    links = i.lead_contacts
    leads_of: dict[int, int] = {}
    for lead, contact in zip(_ints(links["lead_id"]), _ints(links["contact_id"]), strict=True):
        if not pd.isna(lead) and not pd.isna(contact):
            leads_of.setdefault(int(contact), int(lead))
    return _rows([leads_of.get(cid) for cid, _ in keyed], [cid in duplicates for cid, _ in keyed])


def rule_deleted_leads(i: Inputs) -> Rows:
    """Leads in Kommo's trash, out of every lead the warehouse holds: not an error, but many of
    them deserve a look (a robot or an import deleting leads)."""
    leads = i.leads
    return _rows(leads["lead_id"], leads["is_deleted"].fillna(False).astype(bool))


def rule_sync_gaps(i: Inputs) -> Rows:
    """One row per stream with a watermark, failing when it is more than ``SYNC_GAP_HOURS``
    behind the newest (left out of recent syncs: a hole in its data), plus one for the last
    sync run, failing when it failed or was interrupted."""
    marks = pd.to_numeric(i.streams["watermark"], errors="coerce")
    newest = marks.max() if len(marks) else None
    failing = [pd.isna(m) or newest is None or (newest - m) > SYNC_GAP_HOURS * 3600 for m in marks]
    if len(i.runs):
        failing.append(str(i.runs["status"].iloc[0]) in ("failed", "interrupted"))
    return _rows([None] * len(failing), failing)


RuleFunction = Callable[[Inputs], Rows]
RULE_FUNCTIONS: Final[dict[str, RuleFunction]] = {
    "unknown_pipeline": rule_unknown_pipeline,
    "unknown_stage": rule_unknown_stage,
    "closed_without_closed_at": rule_closed_without_closed_at,
    "negative_duration": rule_negative_duration,
    "unknown_user": rule_unknown_user,
    "won_without_price": rule_won_without_price,
    "lost_without_reason": rule_lost_without_reason,
    "stage_backwards": rule_stage_backwards,
    "task_without_lead": rule_task_without_lead,
    "duplicate_contacts": rule_duplicate_contacts,
    "sync_gaps": rule_sync_gaps,
    "unattributable": rule_unattributable,
    "stage_skipped": rule_stage_skipped,
    "deleted_leads": rule_deleted_leads,
}
# Rules whose rows are a seller's leads: the per-seller scores use these.
SELLER_RULES: Final = frozenset(RULE_FUNCTIONS) - {
    "task_without_lead",
    "duplicate_contacts",
    "sync_gaps",
    "deleted_leads",
}


def rule_score(checked: int, failing: int) -> float:
    """100 × passed / checked, one decimal; 100 when there was nothing to check."""
    return 100.0 if checked == 0 else round(100.0 * (checked - failing) / checked, 1)


def weighted_score(parts: Iterable[tuple[Severity, int, float]]) -> float:
    """Σ weight × score / Σ weight over the rules that checked something (error 3, warning 2,
    info 1); 100 when none did."""
    counted = [(s.weight, score) for s, checked, score in parts if checked > 0]
    total = sum(w for w, _ in counted)
    return 100.0 if total == 0 else round(sum(w * s for w, s in counted) / total, 1)


def _sample(rows: Rows) -> tuple[int, ...]:
    ids = rows.loc[rows["failing"], "lead_id"].dropna().astype(int).drop_duplicates()
    return tuple(int(v) for v in ids.sort_values().head(SAMPLE_SIZE))


def evaluate(
    inputs: Inputs, checked_at: datetime, reconciliation: RuleResult | None = None
) -> QualityRun:
    """Every rule on ``inputs`` (the reconciliation, which asks the API, comes ready made)."""
    results: list[RuleResult] = []
    by_rule: dict[str, Rows] = {}
    for key, severity in RULES:
        if key == "reconciliation":
            if reconciliation is not None:
                results.append(reconciliation)
            continue
        rows = RULE_FUNCTIONS[key](inputs)
        by_rule[key] = rows
        checked, failing = len(rows), int(rows["failing"].sum())
        results.append(
            RuleResult(key, severity, checked, failing, rule_score(checked, failing), _sample(rows))
        )
    score = weighted_score((r.severity, r.checked, r.score) for r in results)
    return QualityRun(checked_at, score, tuple(results), _sellers(inputs, by_rule))


def _sellers(inputs: Inputs, by_rule: dict[str, Rows]) -> tuple[SellerScore, ...]:
    """Each responsible user's score: the same weighting over the seller rules, each rule
    counting only the rows of that user's leads."""
    owner = dict(
        zip(_ints(inputs.leads["lead_id"]), _ints(inputs.leads["responsible_user_id"]), strict=True)
    )
    names = {
        int(u): str(n) if isinstance(n, str) else ""
        for u, n in zip(_ints(inputs.users["user_id"]), inputs.users["name"], strict=True)
        if not pd.isna(u)
    }
    per_user: dict[int, list[tuple[Severity, int, int]]] = {}
    for key in sorted(SELLER_RULES & set(by_rule)):
        rows = by_rule[key]
        users = pd.Series([owner.get(v) for v in rows["lead_id"]], dtype="Int64")
        frame = pd.DataFrame({"user": users, "failing": rows["failing"].to_numpy()}).dropna()
        for user, group in frame.groupby("user"):
            per_user.setdefault(int(str(user)), []).append(
                (SEVERITY[key], len(group), int(group["failing"].sum()))
            )
    sellers = [
        SellerScore(
            user,
            names.get(user, ""),
            sum(c for _, c, _ in parts),
            sum(f for _, _, f in parts),
            weighted_score((s, c, rule_score(c, f)) for s, c, f in parts),
        )
        for user, parts in per_user.items()
    ]
    return tuple(sorted(sellers, key=lambda s: (s.score, s.name, s.user_id)))


def skipped(reason: str) -> RuleResult:
    """The reconciliation when it could not run: 100, nothing checked, and the reason shown."""
    return RuleResult("reconciliation", Severity.ERROR, 0, 0, 100.0, (), {"reason": reason})


# -- reading ------------------------------------------------------------------------------------


def _read_frame(con: Any, target: Target, qualified: str, columns: Sequence[str],
                tail: str = "") -> pd.DataFrame:  # fmt: skip
    cur = backend_for(target).cursor(con)
    # SQL text: declared column and table names and a fixed ORDER/LIMIT; no user value.
    cur.execute(f"SELECT {', '.join(columns)} FROM {qualified}{tail}")  # nosec B608
    return pd.DataFrame.from_records([tuple(r) for r in cur.fetchall()], columns=list(columns))


def read_inputs(con: Any, target: Target) -> Inputs:
    """The rules' frames through ``con`` (the writer's connection inside a sync, where the
    model was just built); a table that is not there yet reads as empty."""
    backend = backend_for(target)
    model = model_schema(target)

    def model_table(name: str, frame: str, source: Sequence[str] | None = None) -> pd.DataFrame:
        columns = list(source or _FRAMES[frame])
        if backend.columns(con, model, name) is None:
            return pd.DataFrame(columns=list(_FRAMES[frame]))
        read = _read_frame(con, target, model_qualified(target, name), columns)
        read.columns = list(_FRAMES[frame])
        return read

    def raw_table(name: str, frame: str, source: Sequence[str], tail: str = "") -> pd.DataFrame:
        if backend.columns(con, target.dataset, name) is None:
            return pd.DataFrame(columns=list(_FRAMES[frame]))
        read = _read_frame(con, target, target.qualified(name), source, tail)
        read.columns = list(_FRAMES[frame])
        return read

    return Inputs(
        leads=model_table("fact_leads", "leads"),
        users=model_table("dim_users", "users"),
        pipelines=model_table("dim_pipelines", "pipelines"),
        stages=model_table("dim_stages", "stages"),
        stays=model_table("fact_stage_stays", "stays"),
        tasks=model_table("fact_tasks", "tasks"),
        contacts=raw_table("contacts", "contacts", ("id", "raw")),
        lead_contacts=raw_table("lead_contacts", "lead_contacts", ("lead_id", "contact_id")),
        streams=raw_table("sync_state", "streams", ("stream", "watermark")),
        runs=raw_table(
            "sync_runs", "runs", ("status",), " ORDER BY started_at DESC, run_id DESC LIMIT 1"
        ),
    )


# -- the reconciliation against the API ----------------------------------------------------------


def reconcile_periods(reference: datetime) -> list[tuple[datetime, datetime]]:
    """The sampled periods: whole UTC days ``RECONCILE_DAYS_BACK`` before ``reference``'s."""
    day = reference.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(day - timedelta(days=d), day - timedelta(days=d - 1)) for d in RECONCILE_DAYS_BACK]


def _warehouse_ids(target: Target, start: datetime, end: datetime) -> set[int]:
    mark = reader.placeholder(target)
    rows = reader.query(
        target,
        # SQL text: a table name the code qualifies; the bounds are parameters.
        f"SELECT id FROM {target.qualified('leads')} WHERE NOT is_deleted "  # nosec B608
        f"AND created_at >= {mark} AND created_at < {mark}",
        [start, end],
    )
    return {int(r[0]) for r in rows}


async def _api_ids(
    settings: Settings, periods: Sequence[tuple[datetime, datetime]],
    transport: httpx.AsyncBaseTransport | None,
) -> list[set[int]]:  # fmt: skip
    from kommo_analytics.kommo.client import client_from_settings

    found: list[set[int]] = []
    async with client_from_settings(settings, transport=transport) as client:
        for start, end in periods:
            params = {
                "filter[created_at][from]": int(start.timestamp()),
                # Kommo's range is inclusive on both ends: the period's last second.
                "filter[created_at][to]": int(end.timestamp()) - 1,
            }
            ids: set[int] = set()
            async for page in client.pages(LEADS, params):
                ids.update(int(item["id"]) for item in page.items)
            found.append(ids)
    return found


def reconciliation_result(
    settings: Settings,
    target: Target,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RuleResult:
    """Leads created in each sampled period, counted through the API and in the raw table; a
    period fails when the counts differ (the sample: the leads on one side only). Skipped, with
    the reason, when no account is configured or the API cannot be reached."""
    problem = settings.kommo_account_error()
    if problem is not None:
        return skipped(problem.message)
    streams = _sql.rows_if_present(
        target,
        # SQL text: a table name the code qualifies; no user value.
        f"SELECT watermark FROM {target.qualified('sync_state')} WHERE stream = 'leads'",  # nosec B608
    )
    reference = now
    if streams and streams[0][0] is not None:
        reference = min(now, datetime.fromtimestamp(int(streams[0][0]), UTC))
    periods = reconcile_periods(reference)
    try:
        api = asyncio.run(_api_ids(settings, periods, transport))
    except (KommoAnalyticsError, httpx.HTTPError, OSError) as exc:
        reason = exc.message if isinstance(exc, KommoAnalyticsError) else first_line(exc)
        return skipped(f"the Kommo API could not be asked: {reason}")
    # SQL text: a table name the code qualifies; no user value.
    probe = f"SELECT 1 FROM {target.qualified('leads')} WHERE 1 = 0"  # nosec B608
    if _sql.rows_if_present(target, probe) is None:
        return RuleResult("reconciliation", Severity.ERROR, 0, 0, 100.0)
    failing, differing, details = 0, set(), []
    for (start, end), api_ids in zip(periods, api, strict=True):
        stored = _warehouse_ids(target, start, end)
        if stored != api_ids:
            failing += 1
            differing |= stored ^ api_ids
        details.append(f"{start.date().isoformat()}: {len(api_ids)}/{len(stored)}")
    checked = len(periods)
    return RuleResult(
        "reconciliation",
        Severity.ERROR,
        checked,
        failing,
        rule_score(checked, failing),
        tuple(sorted(differing)[:SAMPLE_SIZE]),
        {"periods": ", ".join(details)},
    )


# -- storing and reading runs ---------------------------------------------------------------------

RUNS_TABLE: Final = "quality_runs"
RESULTS_TABLE: Final = "quality_results"
SELLERS_TABLE: Final = "quality_sellers"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _store(con: Any, target: Target, run: QualityRun) -> None:
    """The run, its rule results and seller scores in one transaction; results of runs older
    than the newest ``RESULTS_KEPT`` are dropped (the runs' scores stay: the trend)."""
    at = _naive(run.checked_at)
    specs = [MODEL_TABLES[n] for n in (RUNS_TABLE, RESULTS_TABLE, SELLERS_TABLE)]
    model_store.ensure_tables(con, target, specs)
    runs = pd.DataFrame(
        [
            {
                "checked_at": at,
                "score": run.score,
                "rules": len(run.rules),
                "errors": len(run.errors),
                "reconciled": not any(r.rule == "reconciliation" and r.skipped for r in run.rules)
                and any(r.rule == "reconciliation" for r in run.rules),
            }
        ]
    )
    results = pd.DataFrame(
        [
            {
                "checked_at": at,
                "rule": r.rule,
                "severity": str(r.severity),
                "checked": r.checked,
                "failing": r.failing,
                "score": r.score,
                "sample": json.dumps(list(r.sample_lead_ids)),
                "values_json": json.dumps(r.values, ensure_ascii=False),
            }
            for r in run.rules
        ],
        columns=list(specs[1].column_names),
    )
    sellers = pd.DataFrame(
        [
            {"checked_at": at, "user_id": s.user_id, "name": s.name, "checked": s.checked,
             "failing": s.failing, "score": s.score}
            for s in run.sellers
        ],
        columns=list(specs[2].column_names),
    )  # fmt: skip
    backend = backend_for(target)
    mark = backend.placeholder
    with backend.transaction(con) as cur:
        for spec in specs:
            # SQL text: a history table's name; the moment is a parameter.
            cur.execute(
                f"DELETE FROM {model_qualified(target, spec.name)} WHERE checked_at = {mark}",  # nosec B608
                backend.params([at]),
            )
        for spec, frame in zip(specs, (runs, results, sellers), strict=True):
            model_store.insert_rows(con, target, spec, frame)
        cur.execute(
            # SQL text: a history table's name and a fixed offset; no user value.
            f"SELECT checked_at FROM {model_qualified(target, RUNS_TABLE)} "  # nosec B608
            f"ORDER BY checked_at DESC LIMIT 1 OFFSET {RESULTS_KEPT - 1}"
        )
        oldest_kept = cur.fetchone()
        if oldest_kept is not None:
            for spec in specs[1:]:
                cur.execute(
                    # SQL text: a history table's name; the moment is a parameter.
                    f"DELETE FROM {model_qualified(target, spec.name)} "  # nosec B608
                    f"WHERE checked_at < {mark}",
                    backend.params([oldest_kept[0]]),
                )


def check_and_store(target: Target, now: datetime, reconciliation: RuleResult | None) -> QualityRun:
    """Read, evaluate and store one run; the caller holds the writer lock (and on DuckDB
    publishes afterwards)."""
    checked_at = now.astimezone(UTC).replace(microsecond=0)
    model_store.prepare_writer(target)
    with reader.connect(target, write=True) as con:
        run = evaluate(read_inputs(con, target), checked_at, reconciliation)
        _store(con, target, run)
    return run


def run_checks(
    settings: Settings,
    now: datetime,
    *,
    database_url: str | None = None,
    reconcile: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> QualityRun:
    """Every rule (with the reconciliation against the API unless ``reconcile`` is False),
    stored under the writer lock and, on DuckDB, published for the readers."""
    target = parse_database_url(database_url or settings.resolved_database_url)
    reader.require_synced(target)
    # Before the lock: the API's pages take a while and a sync must not wait for them.
    reconciliation = (
        reconciliation_result(settings, target, now, transport)
        if reconcile
        else skipped("not asked for (--no-reconcile)")
    )
    with writer_lock(target, settings.data_dir, "data-quality check"):
        run = check_and_store(target, now, reconciliation)
        Warehouse(target, settings.data_dir).publish()
    return run


def summary(run: QualityRun) -> str:
    """One line for the sync's progress output."""
    passing = sum(1 for r in run.rules if r.status != "fail")
    errors = f", {len(run.errors)} error-level rule(s) failing" if run.errors else ""
    return f"data quality {run.score:.1f}/100: {passing} of {len(run.rules)} rules pass{errors}"


def quality_after_build(settings: Settings, target: Target, now: datetime) -> str:
    """The checks as the sync's step after the build (``run_sync(after_build=…)``), without the
    reconciliation (no API calls inside the sync); stored before the sync publishes. A failure
    is logged and reported, never raised: the sync's data and model are good without it."""
    try:
        run = check_and_store(target, now, skipped("not run inside a sync (no extra API calls)"))
    except Exception as exc:  # an extra on top of a good sync: whatever the cause, say so
        log.warning("data quality not checked: %s", exc, exc_info=True)
        return f"data quality not checked: {first_line(exc)}"
    return summary(run)


def _target(target_or_url: Target | str) -> Target:
    return parse_database_url(target_or_url) if isinstance(target_or_url, str) else target_or_url


def _aware(value: Any) -> datetime:
    moment = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def latest_quality(target_or_url: Target | str) -> QualityRun | None:
    """The newest stored run, or None when no check has run yet."""
    target = _target(target_or_url)
    runs = _sql.rows_if_present(
        target,
        # SQL text: a history table's name; no user value.
        f"SELECT checked_at, score FROM {model_qualified(target, RUNS_TABLE)} "  # nosec B608
        "ORDER BY checked_at DESC LIMIT 1",
    )
    if not runs:
        return None
    at, score = runs[0]
    mark = reader.placeholder(target)
    results = reader.query(
        target,
        # SQL text: a history table's name; the moment is a parameter.
        "SELECT rule, severity, checked, failing, score, sample, values_json "  # nosec B608
        f"FROM {model_qualified(target, RESULTS_TABLE)} WHERE checked_at = {mark}",
        [at],
    )
    order = {key: n for n, (key, _) in enumerate(RULES)}
    rules = sorted(
        (
            RuleResult(
                str(rule),
                Severity(str(severity)),
                int(checked),
                int(failing),
                float(rule_score_value),
                tuple(int(v) for v in json.loads(sample or "[]")),
                {str(k): str(v) for k, v in json.loads(values or "{}").items()},
            )
            for rule, severity, checked, failing, rule_score_value, sample, values in results
        ),
        key=lambda r: order.get(r.rule, len(order)),
    )
    sellers = reader.query(
        target,
        # SQL text: a history table's name; the moment is a parameter.
        "SELECT user_id, name, checked, failing, score "  # nosec B608
        f"FROM {model_qualified(target, SELLERS_TABLE)} WHERE checked_at = {mark} "
        "ORDER BY score, name, user_id",
        [at],
    )
    return QualityRun(
        _aware(at),
        float(score),
        tuple(rules),
        tuple(
            SellerScore(int(u), str(n or ""), int(c), int(f), float(s)) for u, n, c, f, s in sellers
        ),
    )


def quality_trend(target_or_url: Target | str, limit: int = 30) -> list[tuple[datetime, float]]:
    """The newest ``limit`` runs' overall scores, oldest first."""
    target = _target(target_or_url)
    rows = _sql.rows_if_present(
        target,
        # SQL text: a history table's name and an int limit; no user value.
        f"SELECT checked_at, score FROM {model_qualified(target, RUNS_TABLE)} "  # nosec B608
        f"ORDER BY checked_at DESC LIMIT {int(limit)}",
    )
    return [(_aware(at), float(score)) for at, score in reversed(rows or [])]


def failing_leads(target_or_url: Target | str, lead_ids: Sequence[int]) -> pd.DataFrame:
    """A rule's sample of failing leads as the drill-downs list leads (named pipeline, stage
    and seller), for the page to link to Kommo; leads the model no longer holds are left out."""
    target = _target(target_or_url)
    model = Model(TABLE_COLUMNS, model_schema(target))
    ids = [int(i) for i in lead_ids]
    leads = model.fact_leads
    chosen = leads.filter(leads.lead_id.isin(ids or [-1])).select(*metric_series.LEAD_LIST_COLUMNS)
    return run_all(target, {"leads": metric_series.named(model, chosen)})["leads"]
