"""The reads behind two alerts: deals sitting in a stage longer than that stage usually holds one,
and each channel's leads per day.

Both go through Ibis (one portable, parameter-safe query per question on every backend), like the
forecast's reads; the arithmetic — percentiles, ranges — is left to the caller, which is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import ibis
import pandas as pd

from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.model.query import model_table, records, run_all
from kommo_analytics.warehouse.target import Target

# Closed stays from this far back make a stage's usual time: long enough for a slow stage to
# have a sample, recent enough that an old way of working does not set today's threshold.
STAY_HISTORY_DAYS: Final = 365


@dataclass(frozen=True)
class StageTimes:
    """Hours each closed stay of a stage lasted (the sample its percentile is taken from)."""

    pipeline_id: int
    status_id: int
    hours: tuple[float, ...]


@dataclass(frozen=True)
class OpenStay:
    """An open deal and how long it has been in its current stage, at ``now``."""

    lead_id: int
    lead_name: str
    user_id: int | None
    seller: str
    pipeline_id: int
    status_id: int
    pipeline: str
    stage: str
    hours: float


@dataclass(frozen=True)
class StageWatch:
    stages: tuple[StageTimes, ...]
    open_stays: tuple[OpenStay, ...]


def _naive_utc(moment: datetime) -> datetime:
    # The model stores UTC instants without a zone.
    return moment.astimezone(UTC).replace(tzinfo=None)


def stage_watch(target: Target, now: datetime) -> StageWatch:
    """Closed stays of the last year per open stage, and every open deal's current stay."""
    stays = model_table(target, "fact_stage_stays")
    leads = model_table(target, "fact_leads")
    stages = model_table(target, "dim_stages")
    pipelines = model_table(target, "dim_pipelines")
    users = model_table(target, "dim_users")
    since = ibis.literal(_naive_utc(now - timedelta(days=STAY_HISTORY_DAYS)), type="timestamp")
    terminal = [WON_STATUS_ID, LOST_STATUS_ID]
    closed = stays.filter(
        stays.left_at.notnull(),
        stays.left_at >= since,
        stays.hours.notnull(),
        ~stays.status_id.isin(terminal),
    ).select("pipeline_id", "status_id", "hours")
    live = leads.filter(leads.is_deleted == False, leads.outcome == "open")  # noqa: E712
    current = stays.filter(stays.left_at.isnull(), ~stays.status_id.isin(terminal))
    joined = current.join(live, current.lead_id == live.lead_id).select(
        lead_id=current.lead_id,
        lead_name=live.name,
        user_id=live.responsible_user_id,
        pipeline_id=current.pipeline_id,
        status_id=current.status_id,
        entered_at=current.entered_at,
    )
    results = run_all(
        target,
        {
            "closed": closed,
            "open": joined,
            "stages": stages.select("pipeline_id", "status_id", "name"),
            "pipelines": pipelines.select("pipeline_id", "name"),
            "users": users.select("user_id", "name"),
        },
    )
    samples = results["closed"]
    hours: dict[tuple[int, int], list[float]] = {}
    for r in records(samples):
        hours.setdefault((int(r["pipeline_id"]), int(r["status_id"])), []).append(float(r["hours"]))
    found = [StageTimes(p, s, tuple(h)) for (p, s), h in sorted(hours.items())]
    stage_names = {
        (int(r["pipeline_id"]), int(r["status_id"])): str(r["name"])
        for r in records(results["stages"])
    }
    pipeline_names = {int(r["pipeline_id"]): str(r["name"]) for r in records(results["pipelines"])}
    user_names = {int(r["user_id"]): str(r["name"]) for r in records(results["users"])}
    at = pd.Timestamp(_naive_utc(now))
    open_stays = []
    for r in records(results["open"]):
        if pd.isna(r["entered_at"]):
            continue
        entered = pd.Timestamp(r["entered_at"])
        if entered.tzinfo is not None:  # DuckDB may hand the UTC instants back zoned
            entered = entered.tz_convert(UTC).tz_localize(None)
        user_id = None if pd.isna(r["user_id"]) else int(r["user_id"])
        pipeline_id, status_id = int(r["pipeline_id"]), int(r["status_id"])
        open_stays.append(
            OpenStay(
                lead_id=int(r["lead_id"]),
                lead_name=str(r["lead_name"] or f"#{r['lead_id']}"),
                user_id=user_id,
                seller=user_names.get(user_id, f"user {user_id}") if user_id is not None else "—",
                pipeline_id=pipeline_id,
                status_id=status_id,
                pipeline=pipeline_names.get(pipeline_id, f"pipeline {pipeline_id}"),
                stage=stage_names.get((pipeline_id, status_id), f"stage {status_id}"),
                hours=(at - entered).total_seconds() / 3600,
            )
        )
    return StageWatch(tuple(found), tuple(open_stays))


def daily_channel_leads(target: Target, first: date, last: date) -> pd.DataFrame:
    """Leads created per channel and account-local day (the model's ``created_local``, in the
    account's zone) from ``first`` to ``last`` inclusive: columns channel, day, leads (days
    without a lead are absent)."""
    leads = model_table(target, "fact_leads")
    start = ibis.literal(datetime.combine(first, datetime.min.time()), type="timestamp")
    end = ibis.literal(
        datetime.combine(last + timedelta(days=1), datetime.min.time()), type="timestamp"
    )
    chosen = leads.filter(
        leads.is_deleted == False,  # noqa: E712 (an Ibis expression)
        leads.created_local >= start,
        leads.created_local < end,
    )
    per_day = chosen.group_by(channel=chosen.channel, day=chosen.created_local.date()).aggregate(
        leads=chosen.count()
    )
    frame = run_all(target, {"days": per_day})["days"]
    frame["channel"] = frame["channel"].fillna("unknown").astype(str)
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["leads"] = frame["leads"].astype("int64")
    return frame.sort_values(["channel", "day"]).reset_index(drop=True)
