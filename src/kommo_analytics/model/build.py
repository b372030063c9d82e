"""Deriving the analytics model from the raw tables: pure functions on DataFrames.

Nothing here reads a database or a clock. :func:`build_model` builds every table from one
:class:`RawFrames`; ``model/store.py`` composes the same steps — :func:`build_dimensions`,
:func:`lead_rows`, :func:`status_events`, :func:`build_stays`, :func:`with_history`,
:func:`build_tasks`, :func:`build_activities` — one fact table at a time, each from only the raw
rows and columns it needs, so a million leads' raw and model frames are never all in memory at
once. Each rule below is the contract's (``docs/metrics.md`` explains them for people):

- a lead's **stage history** comes from its ``lead_status_changed`` events in time order: it
  entered its first stage (the first event's ``value_before``, else its current stage) when it was
  created, and every event ends one stay and starts the next;
- its **first response** is the earliest *human* outgoing call, chat message, e-mail or SMS on the
  lead or on one of its contacts, at or after the lead's creation;
- its **channel** is the first matching rule of the channel rules;
- a lead known only from the trash has no creation time of its own: its ``lead_added`` event's;
- a task's **completion time** is its latest ``task_completed`` event, else its ``updated_at``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from kommo_analytics.kommo.entities import LOST_STATUS_ID, TRACKING_COLUMNS, WON_STATUS_ID
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import MODEL_TABLES, MODEL_VERSION, M

RESPONSE_TYPES = ("outgoing_call", "outgoing_chat_message", "outgoing_mail", "outgoing_sms")
ACTIVITY_TYPES: dict[str, tuple[str, str]] = {
    "incoming_call": ("call", "in"),
    "outgoing_call": ("call", "out"),
    "incoming_chat_message": ("chat", "in"),
    "outgoing_chat_message": ("chat", "out"),
    "incoming_mail": ("mail", "in"),
    "outgoing_mail": ("mail", "out"),
    "outgoing_sms": ("sms", "out"),
}
# The event types the model reads (``model_store`` fetches only these).
MODEL_EVENT_TYPES = ("lead_status_changed", "task_completed", *ACTIVITY_TYPES)
# A lead's creation event. The model needs it only for leads whose row has no creation time —
# leads known from the trash listing, which gives just an id and the deletion time — so
# ``model_store`` fetches it for those leads alone, not one event for every lead.
CREATION_EVENT = "lead_added"
TASK_KINDS = {1: "follow_up", 2: "meeting"}

_ID = re.compile(r'"id"\s*:\s*(\d+)')
_PIPELINE = re.compile(r'"pipeline_id"\s*:\s*(\d+)')
# The ids the model takes from the events' JSON texts: (column, text, pattern). ``events`` may
# carry these columns already — the store reads them in SQL where the database can, so that the
# texts themselves never reach Python — instead of the texts.
MOVE_IDS: dict[str, tuple[str, re.Pattern[str]]] = {
    "status_before": ("value_before", _ID),
    "pipeline_before": ("value_before", _PIPELINE),
    "status_after": ("value_after", _ID),
    "pipeline_after": ("value_after", _PIPELINE),
}
NOTE_ID: tuple[str, tuple[str, re.Pattern[str]]] = ("note_id", ("value_after", _ID))
# The raw columns each fact reads (besides the events'), so a caller may read no others.
READS: dict[str, tuple[str, ...]] = {
    "leads": (
        "id", "name", "pipeline_id", "status_id", "responsible_user_id", "created_by", "price",
        "loss_reason_id", "tags", "created_at", "closed_at", "is_deleted",
        *TRACKING_COLUMNS.values(),
    ),
    "lead_tracking": ("lead_id", "code", "value"),
    "lead_contacts": ("lead_id", "contact_id"),
    "tasks": (
        "id", "task_type_id", "responsible_user_id", "created_by", "entity_type", "entity_id",
        "created_at", "updated_at", "complete_till", "is_completed",
    ),
    "call_notes": ("entity_type", "id", "duration"),
}  # fmt: skip


@dataclass
class RawFrames:
    """The raw tables the model needs, as read from the warehouse (timestamps UTC, aware or
    naive). Empty frames are fine: a new account has no leads yet."""

    account: pd.DataFrame
    users: pd.DataFrame
    pipelines: pd.DataFrame
    statuses: pd.DataFrame
    loss_reasons: pd.DataFrame
    task_types: pd.DataFrame
    leads: pd.DataFrame
    lead_contacts: pd.DataFrame
    events: pd.DataFrame
    tasks: pd.DataFrame
    call_notes: pd.DataFrame
    # Every tracking field of every lead; empty in a warehouse synced before it existed, where
    # the typed columns of `leads` are all there is.
    lead_tracking: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {c: pd.Series(dtype=object) for c in ("lead_id", "code", "value")}
        )
    )
    extra: dict[str, Any] = field(default_factory=dict)


def _ids(events: pd.DataFrame, name: str, source: tuple[str, re.Pattern[str]]) -> pd.Series:
    """An id from the events' JSON: the column read in SQL if ``events`` has it, else extracted
    from the text here."""
    column, pattern = source
    return events[name] if name in events else _extract(events[column], pattern)


def _utc(series: pd.Series) -> pd.Series:
    """Naive UTC timestamps, whatever the driver returned."""
    values = pd.to_datetime(series, utc=True, errors="coerce")
    naive: pd.Series = values.dt.tz_localize(None).astype("datetime64[us]")
    return naive


def _at(keys: pd.Series, times: pd.Series) -> pd.Series:
    """Timestamps looked up by id (missing → NaT), aligned with ``keys``."""
    found = times.reindex(keys.to_numpy()).to_numpy()
    return _utc(pd.Series(found, index=keys.index))


def _local(utc_naive: pd.Series, timezone: str) -> pd.Series:
    """The same instants as naive wall-clock times in the account's time zone."""
    local: pd.Series = (
        utc_naive.dt.tz_localize("UTC")
        .dt.tz_convert(timezone)
        .dt.tz_localize(None)
        .astype("datetime64[us]")
    )
    return local


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 3600.0


def _int(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("Int64")


def _per_value(values: pd.Series, func: Callable[[Any], Any], missing: Any) -> pd.Series:
    """``values.map(func)`` with ``missing`` for missing values, calling ``func`` once per
    distinct value instead of once per row (a million leads carry a few hundred distinct tag
    lists or UTM values). Always an object Series."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        mapped[i] = func(value)
    mapped[-1] = missing  # code -1
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _shared(values: pd.Series) -> pd.Series:
    """Texts with few distinct values (a type, an outcome, a channel) as an object Series whose
    equal values are one Python string: the model's text columns are Python objects, and a
    million rows of a separate string each take ~60 bytes a row more."""
    return _per_value(values, lambda value: value, None)


def _rows(frame: pd.DataFrame, keep: pd.Series, columns: list[str]) -> pd.DataFrame:
    """``frame.loc[keep, columns]``, without copying millions of rows when every row is kept
    (the store reads only the events a fact needs)."""
    return frame[columns] if bool(keep.all()) else frame.loc[keep, columns]


def _bool(series: pd.Series) -> pd.Series:
    return series.astype("boolean").fillna(False).astype(bool)


def _outcome(status: pd.Series) -> pd.Series:
    won = status.eq(WON_STATUS_ID).fillna(False).to_numpy(dtype=bool)
    lost = status.eq(LOST_STATUS_ID).fillna(False).to_numpy(dtype=bool)
    outcomes = np.array(["won", "lost", "open"], dtype=object)  # one string each (see _shared)
    return pd.Series(outcomes[np.select([won, lost], [0, 1], 2)], index=status.index)


def _extract(values: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """The number the pattern's group matches in each text (missing → <NA>), first match."""
    try:
        text = pa.array(values, from_pandas=True)
        if pa.types.is_string(text.type) or pa.types.is_large_string(text.type):
            # Arrow's regular expressions, in C++. The patterns match JSON's ASCII digits, which
            # they and Python's `re` read alike; Python's stays for whatever Arrow cannot take.
            named = pattern.pattern.replace(r"(\d+)", r"(?P<v>\d+)")
            found = pc.struct_field(pc.extract_regex(text, named), [0])  # no match: null
            numbers: pd.Series = pc.cast(found, pa.int64()).to_pandas(types_mapper=_INT64.get)
            numbers.index = values.index
            return numbers
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    return _int(values.fillna("").astype(str).str.extract(pattern, expand=False))


_INT64 = {pa.int64(): pd.Int64Dtype()}


def _frame(name: str, data: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
    """A model table with exactly its declared columns, in order, with predictable dtypes."""
    table = MODEL_TABLES[name]
    source = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
    out = pd.DataFrame(index=source.index)
    for column in table.columns:
        values = (
            source[column.name]
            if column.name in source
            else pd.Series([None] * len(source), index=source.index, dtype=object)
        )
        if column.type is M.BIGINT:
            values = _int(values)
        elif column.type is M.DOUBLE:
            values = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column.type is M.BOOL:
            values = values.astype("boolean")
        elif column.type is M.TIMESTAMP:
            values = pd.to_datetime(values, errors="coerce").astype("datetime64[us]")
        elif column.type is M.TEXT:
            values = values.astype(object).where(values.notna(), None)
        out[column.name] = values
    return out.reset_index(drop=True)


# -- dimensions -----------------------------------------------------------------------------------


def build_stages(statuses: pd.DataFrame) -> pd.DataFrame:
    stages = statuses.rename(columns={"id": "status_id"}).copy()
    stages["status_id"] = _int(stages["status_id"])
    stages["pipeline_id"] = _int(stages["pipeline_id"])
    stages["outcome"] = _outcome(stages["status_id"])
    open_ = stages[stages["outcome"] == "open"].sort_values(["pipeline_id", "sort", "status_id"])
    order = open_.groupby("pipeline_id").cumcount() + 1
    stages["stage_order"] = order.reindex(stages.index)
    return _frame("dim_stages", stages)


def build_task_types(task_types: pd.DataFrame) -> pd.DataFrame:
    types = task_types.rename(columns={"id": "task_type_id"}).copy()
    types["kind"] = _int(types["task_type_id"]).map(TASK_KINDS).fillna("other")
    return _frame("dim_task_types", types)


def build_channels(rules: ChannelRules) -> pd.DataFrame:
    return _frame(
        "dim_channels",
        {
            "channel": [r.key for r in rules.rules],
            "label": [r.label for r in rules.rules],
            "rule_order": list(range(1, len(rules.rules) + 1)),
            "rule": [r.describe() for r in rules.rules],
        },
    )


# -- stage history ---------------------------------------------------------------------------------


def status_events(events: pd.DataFrame) -> pd.DataFrame:
    """``lead_status_changed`` events with the stages before and after, in time order per lead
    (ties within a second broken by the event id, which Kommo issues in time order)."""
    is_move = (events["type"] == "lead_status_changed") & (events["entity_type"] == "lead")
    read = [n for n in MOVE_IDS if n in events]
    texts = [] if len(read) == len(MOVE_IDS) else ["value_before", "value_after"]
    # Only the columns used are taken: a filter copies every column it keeps (millions of texts).
    moves = _rows(events, is_move, ["entity_id", "id", "created_at", "created_by", *read, *texts])
    moves = pd.DataFrame(
        {
            "lead_id": _int(moves["entity_id"]),
            "event_id": moves["id"].astype(str),
            "at": _utc(moves["created_at"]),
            "by": _int(moves["created_by"]),
            **{name: _ids(moves, name, source) for name, source in MOVE_IDS.items()},
        }
    )
    return moves.sort_values(["lead_id", "at", "event_id"], kind="stable").reset_index(drop=True)


def build_stays(leads: pd.DataFrame, moves: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """One row per stay; ``leads`` has lead_id, pipeline_id, status_id, created_at (naive UTC)."""
    moves = moves[moves["lead_id"].isin(leads["lead_id"])]
    created = leads.set_index("lead_id")["created_at"]
    first = moves.groupby("lead_id", sort=False).head(1)
    # The stay a lead was created in: the first move's "before", else where it is now.
    without = leads[~leads["lead_id"].isin(first["lead_id"])]
    initial = pd.concat(
        [
            pd.DataFrame(
                {
                    "lead_id": first["lead_id"],
                    "pipeline_id": first["pipeline_before"],
                    "status_id": first["status_before"],
                }
            ),
            pd.DataFrame(
                {
                    "lead_id": without["lead_id"],
                    "pipeline_id": without["pipeline_id"],
                    "status_id": without["status_id"],
                }
            ),
        ],
        ignore_index=True,
    )
    initial["entered_at"] = _at(initial["lead_id"], created)
    initial["order"] = -1
    later = pd.DataFrame(
        {
            "lead_id": moves["lead_id"],
            "pipeline_id": moves["pipeline_after"],
            "status_id": moves["status_after"],
            "entered_at": moves["at"],
            "order": moves.groupby("lead_id", sort=False).cumcount(),
        }
    )
    stays = pd.concat([initial, later], ignore_index=True)
    stays = stays.sort_values(["lead_id", "order"], kind="stable").reset_index(drop=True)
    stays["seq"] = stays["order"] + 1
    # Each stay ends with the next move; the move's author and destination belong to the stay.
    nxt = moves.assign(seq=moves.groupby("lead_id", sort=False).cumcount())[
        ["lead_id", "seq", "at", "by", "pipeline_after", "status_after"]
    ]
    stays = stays.merge(nxt, on=["lead_id", "seq"], how="left")
    stays = stays.rename(
        columns={
            "at": "left_at",
            "by": "moved_by",
            "pipeline_after": "next_pipeline_id",
            "status_after": "next_status_id",
        }
    )
    stays["entered_at"] = pd.to_datetime(stays["entered_at"]).astype("datetime64[us]")
    stays["left_at"] = pd.to_datetime(stays["left_at"]).astype("datetime64[us]")
    stays["entered_local"] = _local(stays["entered_at"], timezone)
    stays["hours"] = _hours(stays["left_at"], stays["entered_at"])
    return _frame("fact_stage_stays", stays)


def lead_history_facts(
    leads: pd.DataFrame, stays: pd.DataFrame, stages: pd.DataFrame
) -> pd.DataFrame:
    """Per lead: entry stage, furthest stage reached in its current pipeline, ever won, the last
    open stage it was in, and how many moves it made."""
    order = stages.set_index(["pipeline_id", "status_id"])["stage_order"]
    s = stays.copy()
    s["stage_order"] = pd.Series(
        order.reindex(pd.MultiIndex.from_frame(s[["pipeline_id", "status_id"]])).to_numpy(),
        index=s.index,
    ).astype("Int64")
    current = leads.set_index("lead_id")["pipeline_id"]
    in_current = s["pipeline_id"] == s["lead_id"].map(current)
    facts = pd.DataFrame(index=pd.Index(leads["lead_id"], name="lead_id"))
    facts["entry_status_id"] = s[s["seq"] == 0].set_index("lead_id")["status_id"]
    facts["max_stage_order"] = s[in_current].groupby("lead_id")["stage_order"].max()
    facts["ever_won"] = (
        s.assign(won=s["status_id"] == WON_STATUS_ID).groupby("lead_id")["won"].any()
    )
    open_stays = s[~s["status_id"].isin([WON_STATUS_ID, LOST_STATUS_ID]) & s["status_id"].notna()]
    last_open = open_stays.sort_values(["lead_id", "seq"]).groupby("lead_id").tail(1)
    facts["last_open_pipeline_id"] = last_open.set_index("lead_id")["pipeline_id"]
    facts["last_open_status_id"] = last_open.set_index("lead_id")["status_id"]
    facts["status_changes"] = s.groupby("lead_id")["seq"].max()
    facts["ever_won"] = facts["ever_won"].astype("boolean").fillna(False)
    return facts.reset_index()


# -- leads ------------------------------------------------------------------------------------------


def _tags(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    return [str(t) for t in parsed] if isinstance(parsed, list) else []


def _text(value: Any) -> str | None:
    """A tracking value as the rules see it: blank means no value."""
    return value.strip() or None if isinstance(value, str) else None


def tracking_values(lead_tracking: pd.DataFrame, lead_ids: pd.Series) -> pd.DataFrame:
    """Every tracking value of each lead: one column per lower-case code (sorted), one row per
    lead id (in ``lead_ids``' order, positional index); a lead's first value of a code counts.
    Built from integer codes rather than by pivoting: a million leads' few million tracking rows
    pivoted took ~0.5 GB of intermediate frames."""
    values = _per_value(lead_tracking["value"], _text, None).to_numpy()
    # A key column: never missing.
    codes = _per_value(lead_tracking["code"], lambda c: str(c).strip().lower(), None)
    ids = _int(lead_tracking["lead_id"])
    rows = np.flatnonzero(ids.notna().to_numpy() & pd.notna(values) & codes.notna().to_numpy())
    if not len(rows):
        return pd.DataFrame(index=pd.RangeIndex(len(lead_ids)))
    code_of, names = pd.factorize(codes.to_numpy()[rows], sort=True)
    lead_of, tracked = pd.factorize(ids.to_numpy(dtype=np.int64, na_value=0)[rows])
    # The first row of each (lead, code): the one kept.
    first = ~pd.Series(lead_of.astype(np.int64) * len(names) + code_of).duplicated().to_numpy()
    rows, code_of, lead_of = rows[first], code_of[first], lead_of[first]
    # Each lead id's row among the tracked leads (-1: none), for every wanted lead.
    where = pd.Index(tracked).get_indexer(pd.Index(lead_ids.to_numpy()))
    wide = {}
    for k, name in enumerate(names):
        column = np.full(len(tracked) + 1, None, dtype=object)  # the last: leads not tracked
        mine = code_of == k
        column[lead_of[mine]] = values[rows[mine]]
        wide[str(name)] = column[where]
    # copy=False: the columns stay the arrays built above, not one block copied from them.
    return pd.DataFrame(wide, index=pd.RangeIndex(len(lead_ids)), dtype=object, copy=False)


def first_responses(
    leads: pd.DataFrame, events: pd.DataFrame, lead_contacts: pd.DataFrame
) -> pd.Series:
    """Earliest human outgoing contact on the lead or its contacts, at or after its creation."""
    out = events.loc[
        events["type"].isin(RESPONSE_TYPES),
        ["entity_type", "entity_id", "created_at", "created_by"],
    ]
    out = out[_int(out["created_by"]).fillna(0) != 0]
    out = pd.DataFrame(
        {
            "entity_type": out["entity_type"],
            "entity_id": _int(out["entity_id"]),
            "at": _utc(out["created_at"]),
        }
    )
    on_lead = out[out["entity_type"] == "lead"].rename(columns={"entity_id": "lead_id"})
    links = pd.DataFrame(
        {
            "lead_id": _int(lead_contacts["lead_id"]),
            "contact_id": _int(lead_contacts["contact_id"]),
        }
    )
    on_contact = out[out["entity_type"] == "contact"].rename(columns={"entity_id": "contact_id"})
    via_contact = on_contact.merge(links, on="contact_id")[["lead_id", "at"]]
    touches = pd.concat([on_lead[["lead_id", "at"]], via_contact], ignore_index=True)
    touches = touches.merge(leads[["lead_id", "created_at"]], on="lead_id")
    touches = touches[touches["at"] >= touches["created_at"]]
    return touches.groupby("lead_id")["at"].min()


def creation_times(events: pd.DataFrame) -> pd.Series:
    """When each lead was created according to its ``lead_added`` event (the earliest, should a
    re-sync have stored it twice under another id), by lead id."""
    added = events.loc[
        (events["type"] == CREATION_EVENT) & (events["entity_type"] == "lead"),
        ["entity_id", "created_at"],
    ]
    times = pd.DataFrame({"lead_id": _int(added["entity_id"]), "at": _utc(added["created_at"])})
    return times.dropna().groupby("lead_id")["at"].min()


def build_leads(
    raw: RawFrames,
    stages: pd.DataFrame,
    rules: ChannelRules,
    timezone: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fact_leads`` and ``fact_stage_stays``."""
    leads = lead_rows(raw, rules, timezone)
    stays = build_stays(leads, status_events(raw.events), timezone)
    return with_history(leads, stays, stages), stays


def typed_tracking(src: pd.DataFrame) -> dict[str, pd.Series]:
    """The raw leads' own tracking columns (utm_source ...), blank as no value."""
    out = {}
    for column in TRACKING_COLUMNS.values():
        values = src[column] if column in src else pd.Series([None] * len(src), index=src.index)
        out[column] = _per_value(
            values, lambda v: v.strip() or None if isinstance(v, str) else v, None
        )
    return out


def classify(
    leads: pd.DataFrame, every: pd.DataFrame, tag_lists: pd.Series, rules: ChannelRules
) -> pd.Series:
    """Each lead's channel: ``leads`` holds the typed tracking columns and ``created_by``,
    ``every`` the lead's tracking values (:func:`tracking_values`), ``tag_lists`` its tags."""
    # The typed columns come from the lead's own row, always current; lead_tracking adds every
    # other code (yclid, gclientid, an account's source_domain ...) for the rules to use.
    typed = [*TRACKING_COLUMNS.values()]
    other = every.drop(columns=[c for c in every.columns if c in {*typed, "tags", "created_by"}])
    other.index = leads.index
    inputs = pd.concat([leads[[*typed, "created_by"]], other], axis=1).assign(tags=tag_lists)
    return rules.classify_frame(inputs)


def lead_channels(leads_raw: pd.DataFrame, lead_tracking: pd.DataFrame,
                  rules: ChannelRules) -> pd.Series:  # fmt: skip
    """The channel of each raw lead by ``rules``, exactly as :func:`lead_rows` decides it (the
    Settings page's preview of rules not saved yet)."""
    leads = pd.DataFrame(
        {"lead_id": _int(leads_raw["id"]), "created_by": _int(leads_raw["created_by"]),
         **typed_tracking(leads_raw)}
    )  # fmt: skip
    every = tracking_values(lead_tracking, leads["lead_id"])
    return classify(leads, every, _per_value(leads_raw["tags"], _tags, []), rules)


def lead_rows(raw: RawFrames, rules: ChannelRules, timezone: str) -> pd.DataFrame:
    """Each lead's own columns, everything but its stage history (:func:`with_history`). Reads
    ``raw.leads``, ``lead_tracking``, ``lead_contacts``, ``loss_reasons`` and, of ``raw.events``,
    the creation events and the outgoing contacts."""
    src = raw.leads
    leads = pd.DataFrame(
        {
            "lead_id": _int(src["id"]),
            "name": src["name"],
            "pipeline_id": _int(src["pipeline_id"]),
            "status_id": _int(src["status_id"]),
            "responsible_user_id": _int(src["responsible_user_id"]),
            "created_by": _int(src["created_by"]),
            "price": pd.to_numeric(src["price"], errors="coerce"),
            "loss_reason_id": _int(src["loss_reason_id"]),
            "tags": src["tags"],
            "created_at": _utc(src["created_at"]),
            "closed_at": _utc(src["closed_at"]),
            "is_deleted": _bool(src["is_deleted"]),
        }
    )
    for column, values in typed_tracking(src).items():
        leads[column] = values
    # A lead's own creation time when it has one; a trashed lead's, from its creation event,
    # so it can still be counted by creation date in the data-quality figures.
    leads["created_at"] = leads["created_at"].fillna(
        _at(leads["lead_id"], creation_times(raw.events))
    )
    leads["outcome"] = _outcome(leads["status_id"])
    # A lead that is open again has no closing date, whatever Kommo kept.
    leads.loc[leads["outcome"] == "open", "closed_at"] = pd.NaT
    reasons = raw.loss_reasons.set_index(_int(raw.loss_reasons["id"]))["name"]
    leads["loss_reason"] = _shared(
        leads["loss_reason_id"].map(reasons).where(leads["outcome"] == "lost")
    )
    leads["created_local"] = _local(leads["created_at"], timezone)
    leads["closed_local"] = _local(leads["closed_at"], timezone)
    leads["cycle_days"] = _hours(leads["closed_at"], leads["created_at"]) / 24.0
    tag_lists = _per_value(leads["tags"], _tags, [])
    leads["tag_count"] = _per_value(leads["tags"], lambda v: len(_tags(v)), 0).astype("Int64")
    leads["tags"] = _per_value(
        leads["tags"], lambda value: json.dumps(_tags(value), ensure_ascii=False), "[]"
    )
    typed = [*TRACKING_COLUMNS.values()]
    every = tracking_values(raw.lead_tracking, leads["lead_id"])
    leads["channel"] = _shared(classify(leads, every, tag_lists, rules))
    # A lead's tracking fields with a value; UTM_REFERRER also fills `referrer`, so the typed
    # columns alone can count one field twice and the larger of the two counts is taken.
    leads["tracking_fields"] = np.maximum(
        every.notna().sum(axis=1).to_numpy(), leads[typed].notna().sum(axis=1).to_numpy()
    ).astype("int64")
    response = first_responses(leads, raw.events, raw.lead_contacts)
    leads["first_response_at"] = _at(leads["lead_id"], response)
    leads["response_hours"] = _hours(leads["first_response_at"], leads["created_at"])
    return leads


def with_history(leads: pd.DataFrame, stays: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """``fact_leads``: :func:`lead_rows` with the facts of each lead's stage stays."""
    facts = lead_history_facts(leads, stays, stages)
    return _frame("fact_leads", leads.merge(facts, on="lead_id", how="left"))


# -- activities and tasks -----------------------------------------------------------------------


def build_activities(raw: RawFrames, leads: pd.DataFrame, timezone: str) -> pd.DataFrame:
    note = NOTE_ID[0] if NOTE_ID[0] in raw.events else NOTE_ID[1][0]
    events = _rows(
        raw.events,
        raw.events["type"].isin(list(ACTIVITY_TYPES)),
        ["id", "type", "created_by", "created_at", "entity_type", "entity_id", note],
    )
    acts = pd.DataFrame(
        {
            "event_id": events["id"].astype(str),
            "type": _shared(events["type"]),
            "medium": _per_value(events["type"], lambda t: ACTIVITY_TYPES[t][0], None),
            "direction": _per_value(events["type"], lambda t: ACTIVITY_TYPES[t][1], None),
            "created_by": _int(events["created_by"]),
            "created_at": _utc(events["created_at"]),
            "entity_type": _shared(events["entity_type"]),
            "entity_id": _int(events["entity_id"]),
            "note_id": _ids(events, *NOTE_ID),
        }
    )
    acts["created_local"] = _local(acts["created_at"], timezone)
    acts["lead_id"] = acts["entity_id"].where(acts["entity_type"] == "lead")
    acts["contact_id"] = acts["entity_id"].where(acts["entity_type"] == "contact")
    # Call notes are numbered per entity type; the event names the note on its own entity.
    notes = pd.DataFrame(
        {
            "entity_type": raw.call_notes["entity_type"].map(
                {"leads": "lead", "contacts": "contact"}
            ),
            "note_id": _int(raw.call_notes["id"]),
            "call_seconds": pd.to_numeric(raw.call_notes["duration"], errors="coerce"),
        }
    ).drop_duplicates(["entity_type", "note_id"])
    # Merged on the keys alone (the notes' keys are unique: one row per activity, in order), so
    # the merge does not copy every column of millions of activities.
    keys = ["entity_type", "note_id"]
    acts["call_seconds"] = acts[keys].merge(notes, on=keys, how="left")["call_seconds"].to_numpy()
    acts.loc[acts["medium"] != "call", "call_seconds"] = np.nan
    deleted = set(leads.loc[leads["is_deleted"].astype(bool), "lead_id"].tolist())
    acts["lead_deleted"] = acts["lead_id"].isin(deleted)
    return _frame("fact_activities", acts)


def build_tasks(
    raw: RawFrames, leads: pd.DataFrame, task_types: pd.DataFrame, timezone: str
) -> pd.DataFrame:
    src = raw.tasks
    tasks = pd.DataFrame(
        {
            "task_id": _int(src["id"]),
            "task_type_id": _int(src["task_type_id"]),
            "responsible_user_id": _int(src["responsible_user_id"]),
            "created_by": _int(src["created_by"]),
            "entity_type": _shared(src["entity_type"]),
            "entity_id": _int(src["entity_id"]),
            "created_at": _utc(src["created_at"]),
            "updated_at": _utc(src["updated_at"]),
            "complete_till": _utc(src["complete_till"]),
            "is_completed": _bool(src["is_completed"]),
        }
    )
    # Mapped through plain dicts: an account answered without `task_types` (or a sync that
    # skipped the account) leaves the dictionary empty, and mapping an Int64 column through an
    # empty frame keeps Int64, which cannot take the kind's text.
    ids, type_kinds, type_names = (task_types[c].tolist() for c in ("task_type_id", "kind", "name"))
    kinds = {int(k): str(v) for k, v in zip(ids, type_kinds, strict=True) if pd.notna(k)}
    names = {
        int(k): v
        for k, v in zip(ids, type_names, strict=True)
        if pd.notna(k) and isinstance(v, str) and v
    }
    type_ids = tasks["task_type_id"]
    tasks["kind"] = _per_value(
        type_ids,
        lambda i: kinds.get(int(i)) or TASK_KINDS.get(int(i), "other"),
        "other",
    ).tolist()
    # A type the dictionary lacks keeps no name here: the dashboard names it by its id in the
    # reader's language (docs/architecture.md, the analytics model).
    tasks["type_name"] = pd.Series(
        _per_value(type_ids, lambda i: names.get(int(i)), None).tolist(),
        index=tasks.index,
        dtype=object,
    )
    tasks["lead_id"] = tasks["entity_id"].where(tasks["entity_type"] == "leads")
    done = _rows(
        raw.events,
        (raw.events["type"] == "task_completed") & (raw.events["entity_type"] == "task"),
        ["entity_id", "created_at"],
    )
    latest = (
        pd.DataFrame({"task_id": _int(done["entity_id"]), "at": _utc(done["created_at"])})
        .groupby("task_id")["at"]
        .max()
    )
    completed_at = _at(tasks["task_id"], latest)
    tasks["completed_at"] = completed_at.fillna(tasks["updated_at"]).where(tasks["is_completed"])
    tasks["on_time"] = (tasks["completed_at"] <= tasks["complete_till"]).where(
        tasks["is_completed"]
    )
    tasks["complete_till_local"] = _local(tasks["complete_till"], timezone)
    deleted = set(leads.loc[leads["is_deleted"].astype(bool), "lead_id"].tolist())
    tasks["lead_deleted"] = tasks["lead_id"].isin(deleted)
    return _frame("fact_tasks", tasks)


# -- everything -------------------------------------------------------------------------------------


def account_facts(account: pd.DataFrame, timezone_override: str | None) -> dict[str, str | None]:
    row = account.iloc[0].to_dict() if len(account) else {}

    def text(key: str) -> str | None:
        value = row.get(key)
        return (
            None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        )

    return {
        "timezone": timezone_override or text("timezone") or "UTC",
        "currency": text("currency"),
        "currency_symbol": text("currency_symbol"),
        "subdomain": text("subdomain"),
        "account_name": text("name"),
    }


def model_timezone(account: pd.DataFrame, timezone_override: str | None) -> str:
    """The zone the model's local times are in."""
    return account_facts(account, timezone_override)["timezone"] or "UTC"


def build_dimensions(
    raw: RawFrames,
    rules: ChannelRules,
    *,
    built_at: datetime,
    timezone_override: str | None = None,
) -> dict[str, pd.DataFrame]:
    """``model_info`` and the ``dim_`` tables, by name (reads the dictionaries of ``raw`` only)."""
    info = account_facts(raw.account, timezone_override)
    info.update(
        {
            "built_at": built_at.isoformat(),
            "model_version": str(MODEL_VERSION),
            "channel_rules": rules.source,
            "channels": ",".join(rules.keys),
            # Which tracking codes the rules look at (Data health marks the codes they ignore).
            "tracking_fields_used": ",".join(sorted(rules.used_fields)),
        }
    )
    return {
        "model_info": _frame("model_info", {"item": list(info), "value": list(info.values())}),
        "dim_users": _frame("dim_users", raw.users.rename(columns={"id": "user_id"})),
        "dim_pipelines": _frame(
            "dim_pipelines", raw.pipelines.rename(columns={"id": "pipeline_id"})
        ),
        "dim_stages": build_stages(raw.statuses),
        "dim_loss_reasons": _frame(
            "dim_loss_reasons", raw.loss_reasons.rename(columns={"id": "loss_reason_id"})
        ),
        "dim_channels": build_channels(rules),
        "dim_task_types": build_task_types(raw.task_types),
    }


def build_model(
    raw: RawFrames,
    rules: ChannelRules,
    *,
    built_at: datetime,
    timezone_override: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Every derived model table, by name."""
    tables = build_dimensions(raw, rules, built_at=built_at, timezone_override=timezone_override)
    timezone = model_timezone(raw.account, timezone_override)
    leads, stays = build_leads(raw, tables["dim_stages"], rules, timezone)
    tables["fact_leads"] = leads
    tables["fact_stage_stays"] = stays
    tables["fact_tasks"] = build_tasks(raw, leads, tables["dim_task_types"], timezone)
    tables["fact_activities"] = build_activities(raw, leads, timezone)
    return tables
