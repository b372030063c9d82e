"""The reads behind the stuck-deal and lead-volume alerts, on every backend: each stage's closed
stays of the last year, every open deal's current stay, and leads per channel and local day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from kommo_analytics.model import store as model_store
from kommo_analytics.model.schema import MODEL_TABLES
from kommo_analytics.service import watch
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Kind, parse_database_url
from tests.metrics.builders import (
    BRUNO,
    CARLA,
    LOST,
    NEW,
    PARTNER_TALK,
    PARTNERS,
    PIPELINE,
    PROPOSAL,
    QUALIFIED,
    WON,
    lead,
    model,
    move,
    raw,
)

NOW = datetime(2026, 11, 15, 15, 0, tzinfo=UTC)


@pytest.fixture
def url(warehouse_url: str) -> str:
    frames = model(
        raw(
            leads=[
                lead(1, "2026-07-05 13:00", status=WON, price=1000, closed="2026-07-10 15:00"),
                lead(2, "2026-08-03 13:00", status=LOST, responsible=BRUNO,
                     closed="2026-08-05 13:00"),
                lead(3, "2026-10-05 13:00", status=PROPOSAL, price=2500),
                lead(4, "2026-09-01 13:00", status=PARTNER_TALK, pipeline=PARTNERS,
                     responsible=CARLA),
                lead(5, "2026-09-02 13:00", deleted=True),
                # Left its first stage more than a year before NOW: too old to count.
                lead(6, "2025-10-01 13:00", status=LOST, closed="2025-10-02 13:00"),
            ],
            events=[
                move(1, "2026-07-06 13:00", NEW, QUALIFIED),
                move(1, "2026-07-10 15:00", QUALIFIED, WON),
                move(2, "2026-08-05 13:00", NEW, LOST, by=BRUNO),
                move(3, "2026-10-06 13:00", NEW, PROPOSAL),
                move(6, "2025-10-02 13:00", NEW, LOST),
            ],
        )
    )  # fmt: skip
    target = parse_database_url(warehouse_url)
    model_store.prepare_writer(target)
    if target.kind is Kind.DUCKDB:
        assert target.sync_path is not None
        duckdb.connect(str(target.sync_path)).close()
    with reader.connect(target, write=True) as con:
        model_store.ensure_tables(con, target, MODEL_TABLES.values())
        model_store.replace_tables(con, target, frames)
    backend_for(target).publish()
    return warehouse_url


def test_stage_times_are_the_closed_stays_of_the_last_year(url: str) -> None:
    found = watch.stage_watch(parse_database_url(url), NOW)
    hours = {(s.pipeline_id, s.status_id): sorted(s.hours) for s in found.stages}
    # NEW: lead 1 for a day (5 → 6 July), lead 2 for two (3 → 5 Aug), lead 3 for a day
    # (5 → 6 Oct); lead 6's NEW stay ended in October 2025, over a year before NOW. QUALIFIED:
    # lead 1 from 6 July 13:00 to 10 July 15:00, 98 hours. Won and lost are not stages one waits in.
    assert hours == {(PIPELINE, NEW): [24.0, 24.0, 48.0], (PIPELINE, QUALIFIED): [98.0]}


def test_open_stays_are_the_open_deals_in_their_current_stage(url: str) -> None:
    found = watch.stage_watch(parse_database_url(url), NOW)
    stays = {s.lead_id: s for s in found.open_stays}
    # Lead 3 entered Proposal on 6 Oct 13:00: 40 days and 2 hours before NOW. Lead 4 has sat in
    # its first stage since it was created on 1 Sep 13:00: 75 days and 2 hours. Closed deals (1,
    # 2, 6) and the deleted lead 5 are not open deals.
    assert sorted(stays) == [3, 4]
    assert stays[3].hours == pytest.approx(40 * 24 + 2)
    assert (stays[3].pipeline_id, stays[3].status_id) == (PIPELINE, PROPOSAL)
    assert stays[4].hours == pytest.approx(75 * 24 + 2)
    assert (stays[4].pipeline_id, stays[4].user_id, stays[4].seller) == (PARTNERS, CARLA, "Carla")


def test_daily_channel_leads_count_live_leads_per_local_day(url: str) -> None:
    frame = watch.daily_channel_leads(parse_database_url(url), date(2026, 7, 1), date(2026, 10, 5))
    # One live lead on each of four local days (13:00 UTC is 10:00 in São Paulo, the same day);
    # lead 5 is deleted and lead 6 is from 2025. The last day, 5 Oct, is included.
    days = frame.groupby("day")["leads"].sum()
    assert days.to_dict() == {
        date(2026, 7, 5): 1,
        date(2026, 8, 3): 1,
        date(2026, 9, 1): 1,
        date(2026, 10, 5): 1,
    }
    assert list(frame.columns) == ["channel", "day", "leads"]
    assert frame["channel"].map(type).eq(str).all() and isinstance(frame, pd.DataFrame)
