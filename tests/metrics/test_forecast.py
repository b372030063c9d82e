"""Module 6 — forecast. The model is not built yet: the module reports facts about the month
as_of falls in (15 Nov 2026 12:00 São Paulo, UTC−3) and never invents a forecast.
Builder timestamps are UTC."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from kommo_analytics.forecast.recommend import pacing
from kommo_analytics.workdays import WorkCalendar
from tests.forecast.test_recommend import goal as goal_outlook
from tests.forecast.test_recommend import result
from tests.metrics.builders import (
    ANA,
    AS_OF,
    BRUNO,
    NEW,
    PARTNER_TALK,
    PARTNERS,
    PIPELINE,
    PROPOSAL,
    WON,
    goal,
    lead,
    local,
    params,
    raw,
    run,
)

STORY = raw(
    leads=[
        # Won in November by as_of: 2000, and one without a price at 00:30 local on Nov 1.
        lead(1, status=WON, price=2000, closed="2026-11-03 12:00"),
        lead(2, status=WON, price=None, closed=local("2026-11-01 00:30")),
        # Won at 23:30 local on Oct 31: October's, not November's.
        lead(3, status=WON, price=700, closed=local("2026-10-31 23:30")),
        # Won after as_of: not "to date".
        lead(4, status=WON, price=9000, closed="2026-11-20 12:00"),
        # Won in November but deleted.
        lead(5, status=WON, price=400, closed="2026-11-04 12:00", deleted=True),
        # The open pipeline.
        lead(11, status=NEW, price=100),
        lead(12, status=NEW, price=None),
        lead(13, status=PROPOSAL, price=5000, responsible=BRUNO),
        lead(14, status=PROPOSAL, price=800, deleted=True),
        lead(15, pipeline=PARTNERS, status=PARTNER_TALK, price=50),
    ]
)
GOALS = [
    goal("2026-10", ANA, 8000.0),  # last month's: not this one's
    goal("2026-11", ANA, 10000.0),
    goal("2026-11", BRUNO, 5000.0),
]


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return run(STORY, goals=GOALS)


def test_the_forecast_says_it_is_not_built(story: dict[str, Any]) -> None:
    f = story["forecast"]
    assert f["status"] == "not_built"
    assert f["month"] == "2026-11"  # the month of as_of, whatever the period (October)
    assert not {"p10", "p50", "p90"} & set(f)  # no range is invented
    # The range is the read service's to add (service/reports.py): here it stays empty.
    assert (f["months"], f["method"], f["seed"]) == ([], "none", None)


def test_month_revenue_to_date(story: dict[str, Any]) -> None:
    f = story["forecast"]
    assert f["month_revenue_to_date"] == 2000.0  # lead 1; lead 2 has no price
    assert f["month_won_deals"] == 2  # leads 1 and 2; not 3 (Oct), 4 (after as_of), 5 (deleted)


def test_goal_and_gap(story: dict[str, Any]) -> None:
    f = story["forecast"]
    assert f["month_goal"] == 15000.0  # Ana's 10000 + Bruno's 5000 for November
    assert f["month_gap_to_goal"] == 13000.0  # 15000 − 2000 won so far


def test_without_goals_there_is_no_gap() -> None:
    f = run(STORY)["forecast"]
    assert f["month_goal"] is None
    assert f["month_gap_to_goal"] is None


def test_a_seller_filter_narrows_goal_and_revenue() -> None:
    f = run(STORY, params(sellers=(BRUNO,)), goals=GOALS)["forecast"]
    assert f["month_goal"] == 5000.0  # Bruno's goal only
    assert f["month_revenue_to_date"] == 0.0  # Bruno won nothing in November
    assert f["month_gap_to_goal"] == 5000.0
    assert [(s["status_id"], s["deals"]) for s in f["open_pipeline"]] == [(PROPOSAL, 1)]


def test_days_left(story: dict[str, Any]) -> None:
    f = story["forecast"]
    assert f["days_left_in_month"] == 15  # Nov 15 → Nov 30
    # No calendar given: weekends only. From Sunday 15 (not a working day) to Monday 30: two
    # full weeks and one day.
    assert f["working_days_left"] == 11
    assert f["holiday_calendar"] is None


def test_today_counts_when_it_is_a_working_day() -> None:
    # Monday 16 November 2026, 18:00: the day is not over, so it counts with the 10 weekdays
    # after it (17–20, 23–27, 30) = 11; with Brazil's holidays, less Friday 20 = 10.
    monday = params(as_of="2026-11-16T18:00-03:00")
    assert run(STORY, monday)["forecast"]["working_days_left"] == 11
    with_holidays = params(as_of="2026-11-16T18:00-03:00", calendar=BRAZIL)
    assert run(STORY, with_holidays)["forecast"]["working_days_left"] == 10


def test_open_pipeline_by_stage(story: dict[str, Any]) -> None:
    assert story["forecast"]["open_pipeline"] == [
        # Leads 11 and 12; 12 has no price.
        {"pipeline_id": PIPELINE, "status_id": NEW, "name": "New lead", "deals": 2, "value": 100.0},
        # Lead 13; 14 is deleted.
        {"pipeline_id": PIPELINE, "status_id": PROPOSAL, "name": "Proposal", "deals": 1,
         "value": 5000.0},
        {"pipeline_id": PARTNERS, "status_id": PARTNER_TALK, "name": "Talking", "deals": 1,
         "value": 50.0},
    ]  # fmt: skip


BRAZIL = WorkCalendar("BR", None, "setting")


def test_the_report_and_the_pacing_count_the_same_working_days() -> None:
    """One as-of, one number: the report's ``working_days_left`` is the pacing's (the Forecast
    page shows both beside each other). Sunday 15 November 2026 in Brazil: the weekdays 16–20,
    23–27 and 30 are 11, less Friday 20 (Black Awareness Day) = 10."""
    f = run(STORY, params(calendar=BRAZIL), goals=GOALS)["forecast"]
    nov = date(2026, 11, 1)
    paced = pacing(
        result((goal_outlook(nov, None, 15_000, 10_000, 0.5),)), pd.Timestamp(AS_OF), BRAZIL
    )
    assert f["working_days_left"] == paced[0].working_days_left == 10
    assert f["holiday_calendar"] == "BR"
