from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kommo_analytics.forecast import History
from kommo_analytics.forecast.calendar import month_start
from kommo_analytics.forecast.pipeline import Curve, open_pipeline, stage_rates
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from tests.forecast.builders import TZ, at, build, frames, history

NOW = at("2026-01-16")
ENDS = [month_start(NOW, m) for m in (1, 2, 3)]


def test_a_constant_pipeline_gives_back_its_stage_probabilities() -> None:
    # 13 months × 40 leads, moving on with 0.6, 0.5, 0.5: from stage 10 a deal is won with
    # 0.6 · 0.5 · 0.5 = 0.15, from 20 with 0.25, from 30 with 0.5. On 16 January the leads of
    # January are still open (censored); the estimator counts them as undecided, not lost.
    # Without shrinkage (k = 0) the estimate is then a binomial proportion over the n closed
    # deals of the stage, so it must land within 3 standard errors, √(p(1−p)/n): about ±0.05
    # for stage 10 (n ≈ 480) and ±0.13 for stage 30 (n ≈ 145); a fixed seed keeps it
    # deterministic.
    rates = stage_rates(history(months=13).as_of(NOW), NOW, k=0).set_index("status_id")
    closed, estimate = rates["closed"].to_dict(), rates["probability"].to_dict()
    for stage, p in ((10, 0.15), (20, 0.25), (30, 0.5)):
        n = closed[stage]
        assert n > 100
        assert estimate[stage] == pytest.approx(p, abs=3 * math.sqrt(p * (1 - p) / n))


def test_the_aalen_johansen_curve_on_four_episodes() -> None:
    # Episodes of 1 day (won), 2 (lost), 3 (still open) and 4 (won).
    # Day 1: 4 at risk, one won → open 3/4, won 1/4. Day 2: 3 at risk, one lost → open 1/2.
    # Day 3 is a censoring, not an event. Day 4: 1 at risk, won → won 1/4 + 1/2 · 1 = 3/4.
    curve = Curve.fit(
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([True, False, False, True]),
        np.array([True, True, False, True]),
    )
    assert curve.eventual(np.array([0.0]))[0] == pytest.approx(3 / 4)
    # Open after 2.5 days: only the undecided one and the day-4 win are left, and every
    # decided one of them was won → 1.
    assert curve.eventual(np.array([2.5]))[0] == pytest.approx(1.0)
    assert curve.won_by(np.array([0.0]), np.array([1.5]))[0] == pytest.approx(1 / 4)
    # Closed episodes that lasted at least 2 days: the loss and the day-4 win.
    assert curve.evidence(np.array([2.0]))[0] == 2


def _path(
    lead_id: int, stages: list[int], created: pd.Timestamp
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """A lead created at ``created`` that spends a day in each of ``stages`` (the last one is
    where it stays: 142, 143 or an open stage)."""
    stays: list[dict[str, object]] = []
    for i, status in enumerate(stages):
        last = i == len(stages) - 1
        stays.append(
            {
                "lead_id": lead_id,
                "pipeline_id": 1,
                "status_id": status,
                "entered_at": created + pd.Timedelta(days=i),
                "left_at": pd.NaT if last else created + pd.Timedelta(days=i + 1),
            }
        )
    final = stages[-1]
    closed = created + pd.Timedelta(days=len(stages) - 1) if final in (142, 143) else pd.NaT
    lead: dict[str, object] = {
        "lead_id": lead_id,
        "pipeline_id": 1,
        "user_id": 1,
        "created_at": created,
        "closed_at": closed,
        "status_id": final,
        "price": 500.0,
    }
    return lead, stays


def _frames(paths: list[list[int]], created: pd.Timestamp) -> History:
    leads, stays = [], []
    for i, stages in enumerate(paths, start=1):
        lead, its = _path(i, stages, created)
        leads.append(lead)
        stays.extend(its)
    return History(*frames(leads, stays), TZ)


def test_a_small_sample_is_shrunk_toward_the_pipeline_rate() -> None:
    won, lost = WON_STATUS_ID, LOST_STATUS_ID
    # 20 closed deals: 2 won through 10 → 20 → 30, 2 won through 10 → 20, 16 lost in 10.
    # Pipeline rate 4 / 20 = 0.2.
    paths = [[10, 20, 30, won]] * 2 + [[10, 20, won]] * 2 + [[10, lost]] * 16
    history = _frames(paths, at("2025-03-03"))
    rates = stage_rates(history, at("2025-06-01"), k=10).set_index("status_id")
    assert rates.loc[10, "raw_rate"] == pytest.approx(0.2)
    # Stage 20: 4 of 4 won (raw 1.0), but 4 deals say little: (4 + 10 · 0.2) / (4 + 10) = 6/14.
    assert rates.loc[20, "raw_rate"] == pytest.approx(1.0)
    assert rates.loc[20, "probability"] == pytest.approx(6 / 14)
    # Stage 30: 2 of 2 → (2 + 2) / (2 + 10) = 1/3.
    assert rates.loc[30, "probability"] == pytest.approx(1 / 3)
    assert rates.loc[30, "closed"] == 2
    # Stage 10 has the pipeline's own rate: shrinking toward itself changes nothing.
    assert rates.loc[10, "probability"] == pytest.approx(0.2)


def test_a_deal_older_than_usual_is_less_likely_to_be_won() -> None:
    # The constant pipeline spends 5 days in each stage: every deal in stage 30 is won or lost
    # exactly 5 days after entering it. Add 20 deals that entered stage 30 a year ago and are
    # still open, one that entered today and one that has sat there 15 days (without a price);
    # and one deal stuck in stage 10 for 7 days.
    leads, stays = build(months=12)
    last = int(leads["lead_id"].max())
    now = NOW
    extra_leads, extra_stays = [], []
    ages = [365.0] * 20 + [0.0, 15.0]
    places = [(age, 30) for age in ages] + [(7.0, 10)]
    for i, (age, status) in enumerate(places, start=1):
        entered = now - pd.Timedelta(days=age)
        extra_leads.append(
            {
                "lead_id": last + i,
                "pipeline_id": 1,
                "user_id": 1,
                "created_at": entered - pd.Timedelta(days=10),
                "closed_at": pd.NaT,
                "status_id": status,
                "price": 2000.0 if age in (0.0, 7.0) else np.nan,
            }
        )
        extra_stays.append(
            {
                "lead_id": last + i,
                "pipeline_id": 1,
                "status_id": status,
                "entered_at": entered,
                "left_at": pd.NaT,
            }
        )
    extra, es = frames(extra_leads, extra_stays)
    history = History(pd.concat([leads, extra]), pd.concat([stays, es]), TZ).as_of(now)
    pipe = open_pipeline(history, now, ENDS, k=10)
    deals = pipe.deals.set_index("lead_id")
    fresh, stale = deals.loc[last + 21], deals.loc[last + 22]
    stage = next(s for s in pipe.stages if s.status_id == 30)
    # Fresh: about half of the deals entering stage 30 are won, but the 20 that never closed
    # count as undecided and thin that out a little (≈ 0.5 · 145 / 165 before shrinkage).
    assert stage.raw_rate is not None
    assert 0.3 < fresh["win_probability"] < stage.raw_rate
    # Stale: no deal of this pipeline was ever won after 15 days in a stage — the only ones
    # that old are the never-closing ones — so neither the stage nor the pipeline prior gives
    # it any chance.
    assert stale["win_probability"] == 0.0
    # Stuck 7 days in stage 10, where every deal moves on or is lost after 5: no deal still in
    # a stage after 7 days was ever won, so neither is this one. Comparing it with all deals
    # still open 7 days after entering stage 10 — by then mostly in stage 20 — would have
    # credited it with their progress (about 0.25).
    assert deals.loc[last + 23, "win_probability"] == 0.0
    # Every win comes 5 days after entry, inside January (16 days left): nothing later.
    assert fresh["p_window_0"] == pytest.approx(fresh["win_probability"])
    assert fresh["p_window_1"] == 0.0
    # The price-less deal is valued at the pipeline's recent ticket (every won deal: 1000) and
    # is counted apart.
    assert not stale["priced"]
    assert stale["value"] == pytest.approx(1000.0)
    assert stage.unpriced_deals == 21
    assert stage.open_deals == 22
    assert stage.closed_deals > 100


def test_deals_in_earlier_stages_close_later() -> None:
    # From stage 10 a win comes 15 days after entry, from stage 30 five days after. On January
    # 20 there are 12 days left in the month: a deal that entered stage 10 less than 3 days ago
    # can only be won in February, while every deal in stage 30 is won (if at all) in January.
    now = at("2026-01-20")
    ends = [month_start(now, m) for m in (1, 2, 3)]
    pipe = open_pipeline(history(months=13).as_of(now), now, ends)
    deals = pipe.deals
    young = deals[(deals["status_id"] == 10) & (deals["age_days"] < 3)]
    assert not young.empty
    assert (young["p_window_1"] > 0).all()
    assert (young["p_window_0"] == 0).all()
    assert (deals.loc[deals["status_id"] == 30, "p_window_1"] == 0).all()
    # All history says a deal closes within 15 days: nothing is left beyond February.
    total = deals[["p_window_0", "p_window_1", "p_window_2"]].sum(axis=1)
    assert np.allclose(total, deals["win_probability"])
