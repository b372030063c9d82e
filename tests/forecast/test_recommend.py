"""Pacing and recommendations on hand-made forecasts and histories whose numbers are known."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from kommo_analytics.forecast import History
from kommo_analytics.forecast.recommend import (
    MIN_DROP_SAMPLE,
    largest_drop,
    pacing,
    recommendations,
)
from kommo_analytics.forecast.result import (
    Forecast,
    GoalOutlook,
    MonthForecast,
    NewLeadsSummary,
    Range,
    ScopeForecast,
    SeriesForecast,
)
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.workdays import WorkCalendar

TZ = "America/Sao_Paulo"
NOW = pd.Timestamp("2026-11-25 12:00", tz=TZ)  # a Wednesday
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
ORDER = {(1, 10): 1, (1, 20): 2, (1, 30): 3}
BRAZIL = WorkCalendar("BR", None, "setting")


def _series(mean: tuple[float, ...]) -> SeriesForecast:
    return SeriesForecast("s", "recent_mean", "test", (), mean, tuple(0.0 for _ in mean))


def month(m: date, p50: float, won: float) -> MonthForecast:
    return MonthForecast(m, Range(p50, p50, p50, p50), Range(1, 1, 1, 1), won, 1, 0.0, 0.0)


def result(goals: tuple[GoalOutlook, ...]) -> Forecast:
    """Company: 20,000 won so far in November; average ticket 4,800 (4,000 for the pacing test
    is set there); wins per new lead 0.15 in November and 0.2 in December."""
    company = ScopeForecast("company", None, (month(NOV, 52_000, 20_000), month(DEC, 60_000, 0)))
    seller = ScopeForecast("seller", 7, (month(NOV, 10_000, 5_000), month(DEC, 10_000, 0)))
    new = NewLeadsSummary(
        _series((40, 40)), _series((700, 700)), _series((0.15, 0.2)), (1.0,), 4800
    )
    return Forecast(
        "ok", "test", NOW.to_pydatetime(), 0, 100,
        company=company, sellers=(seller,), goals=goals, new_leads=new,
    )  # fmt: skip


def goal(m: date, user: int | None, amount: float, p50: float, probability: float) -> GoalOutlook:
    risk = "high" if probability < 0.5 else "medium" if probability < 0.8 else "low"
    return GoalOutlook(m, user, amount, p50, amount - p50, probability, risk)  # type: ignore[arg-type]


def test_pacing_per_remaining_working_day() -> None:
    paced = pacing(
        result((goal(NOV, None, 100_000, 52_000, 0.1), goal(DEC, 7, 22_000, 10_000, 0.3))),
        NOW,
        BRAZIL,
    )
    nov, dec = paced
    # 100,000 − 20,000 won = 80,000 over 25, 26, 27 and 30 November: 20,000 a day; at the
    # 4,800 ticket ⌈80,000 / 4,800⌉ = 17 deals, 4.25 a day.
    assert (nov.remaining, nov.working_days_left, nov.revenue_per_day) == (80_000, 4, 20_000)
    assert (nov.deals_needed, nov.deals_per_day) == (17, 4.25)
    # December from its 1st: 22 working days (Christmas is a Friday); the seller won nothing yet.
    assert (dec.user_id, dec.remaining, dec.working_days_left) == (7, 22_000, 22)
    assert dec.revenue_per_day == pytest.approx(1000) and dec.deals_needed == 5  # ⌈4.58⌉


def _history() -> History:
    """Pipeline 1, stages 10 → 20 → 30 (orders 1, 2, 3). Ten deals went 10 → 20, then four went
    on to 30 and six were lost from 20: stage 20 lets 40 % through, a 60 % drop (stage 10 lets
    all through). Three deals of seller 7 sit in stage 20 now, entered 20 days ago."""
    leads, stays = [], []
    start = pd.Timestamp("2026-08-01", tz=TZ)
    for i in range(10):
        lid = i + 1
        t = [start + pd.Timedelta(days=d) for d in (0, 5, 10)]
        final = 30 if i < 4 else LOST_STATUS_ID
        path = [(10, t[0], t[1]), (20, t[1], t[2]), (final, t[2], pd.NaT)]
        closed = pd.NaT if final == 30 else t[2]
        leads.append((lid, 1, final, t[0], closed))
        stays += [(lid, s, a, b) for s, a, b in path]
    for j in range(3):
        lid = 100 + j
        entered = NOW - pd.Timedelta(days=20)
        leads.append((lid, 7, 20, entered - pd.Timedelta(days=1), pd.NaT))
        stays += [(lid, 10, entered - pd.Timedelta(days=1), entered), (lid, 20, entered, pd.NaT)]
    lead_frame = pd.DataFrame(
        {
            "lead_id": [r[0] for r in leads],
            "pipeline_id": 1,
            "user_id": [r[1] for r in leads],
            "created_at": pd.to_datetime([r[3] for r in leads]),
            "closed_at": pd.Series([r[4] for r in leads], dtype=f"datetime64[ns, {TZ}]"),
            "status_id": [r[2] for r in leads],
            "price": 1000.0,
        }
    )
    stay_frame = pd.DataFrame(
        {
            "lead_id": [r[0] for r in stays],
            "pipeline_id": 1,
            "status_id": [r[1] for r in stays],
            "entered_at": pd.Series([r[2] for r in stays], dtype=f"datetime64[ns, {TZ}]"),
            "left_at": pd.Series([r[3] for r in stays], dtype=f"datetime64[ns, {TZ}]"),
        }
    )
    return History(lead_frame, stay_frame, TZ)


def test_the_largest_drop() -> None:
    # Stage 20: the three deals still there have not left it and are not in the sample (also
    # once the history is rebuilt as of "now", where stages are nullable integers).
    for history in (_history(), _history().as_of(NOW)):
        found = largest_drop(history, ORDER)
        assert found is not None
        pipeline, stage, after, drop, sample = found
        assert (pipeline, stage, after, sample) == (1, 20, 30, 10) and drop == pytest.approx(0.6)


def test_recommendations_name_their_numbers() -> None:
    goals = (goal(NOV, None, 100_000, 52_000, 0.1), goal(NOV, 7, 30_000, 10_000, 0.2))
    # Lead 102 had a call two days ago: it is not stale.
    touched = {102: (NOW - pd.Timedelta(days=2)).tz_convert("UTC")}
    recs = recommendations(
        result(goals), _history(), now=NOW, stage_order=ORDER, last_activity=touched
    )
    gap, drop, risk = recs
    # 48,000 short at P50: ⌈48,000 / 4,800⌉ = 10 deals, ⌈10 / 0.15⌉ = 67 leads.
    assert gap.key == "close_gap" and gap.month == NOV
    assert gap.numbers["gap"] == 48_000 and gap.numbers["deals_needed"] == 10
    assert gap.numbers["lead_to_win_rate"] == 0.15 and gap.numbers["leads_needed"] == 67
    assert drop.key == "largest_drop"
    assert drop.numbers == {
        "pipeline_id": 1, "status_id": 20, "next_status_id": 30,
        "drop_rate": pytest.approx(0.6), "deals_left": 10, "open_deals": 3, "stale_deals": 2,
        "stale_days": 14,
    }  # fmt: skip
    assert risk.key == "seller_at_risk" and risk.user_id == 7
    assert risk.numbers["gap"] == 20_000 and risk.numbers["probability"] == 0.2
    assert (risk.numbers["open_deals"], risk.numbers["stale_deals"]) == (3, 2)


def test_no_goal_no_gap_and_no_forecast_nothing() -> None:
    recs = recommendations(result(()), _history(), now=NOW, stage_order=ORDER)
    assert [r.key for r in recs] == ["largest_drop"]
    assert pacing(result(()), NOW, BRAZIL) == ()
    empty = Forecast("insufficient_history", "short", NOW.to_pydatetime(), 0, 100)
    assert recommendations(empty, _history(), now=NOW, stage_order=ORDER) == ()


def _largest_drop_per_deal(
    history: History, stage_order: dict[tuple[int, int], int]
) -> tuple[int, int, int, float, int] | None:
    """The definition, deal by deal (the implementation before it was vectorised)."""
    stays = history.stays
    keys = zip(stays["pipeline_id"], stays["status_id"], strict=True)
    orders = [stage_order.get((int(p), int(s))) for p, s in keys]
    frame = stays.assign(order=pd.Series(orders, index=stays.index, dtype="float64"))
    current = history.leads.set_index("lead_id")["status_id"]
    best: tuple[int, int, int, float, int] | None = None
    for pipeline_id, group in frame.groupby("pipeline_id"):
        staged = group[group["order"].notna()]
        if staged.empty:
            continue
        top = staged.groupby("lead_id")["order"].max()
        won = set(group.loc[group["status_id"] == WON_STATUS_ID, "lead_id"])
        by_order = {o: s for (p, s), o in stage_order.items() if p == pipeline_id}
        for order in sorted(by_order)[:-1]:
            entered = staged.loc[staged["order"] == order, "lead_id"].unique()
            still = (current.reindex(entered) == by_order[order]).fillna(False).astype(bool)
            left = [x for x, s in zip(entered, still, strict=True) if not s]
            if len(left) < MIN_DROP_SAMPLE:
                continue
            drop = 1 - sum(1 for x in left if top[x] > order or x in won) / len(left)
            nxt = by_order[min(o for o in by_order if o > order)]
            if best is None or drop > best[3]:
                best = (int(str(pipeline_id)), by_order[order], nxt, drop, len(left))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_the_largest_drop_is_the_per_deal_definition(seed: int) -> None:
    """Random courses through two ordered pipelines and one without orders, with leads whose
    stays outlive their lead row, open stages left blank, wins and returns to earlier stages."""
    rng = np.random.default_rng(seed)
    order = {(1, 10): 1, (1, 20): 2, (1, 30): 3, (1, 40): 4, (2, 50): 1, (2, 60): 2, (2, 70): 3}
    stages = {1: [10, 20, 30, 40], 2: [50, 60, 70], 3: [80, 90]}
    start = pd.Timestamp("2026-01-01", tz=TZ)
    leads, stays = [], []
    for lid in range(1, 400):
        pipeline = int(rng.integers(1, 4))
        path = list(rng.choice(stages[pipeline], size=int(rng.integers(1, 5))))
        end = rng.choice([WON_STATUS_ID, LOST_STATUS_ID, 0])
        if end:
            path.append(int(end))
        times = [start + pd.Timedelta(days=lid + d) for d in range(len(path) + 1)]
        stays += [(lid, pipeline, int(s), times[i], times[i + 1]) for i, s in enumerate(path)]
        status = path[-1] if rng.random() > 0.1 else None
        if rng.random() > 0.05:
            leads.append((lid, pipeline, status, times[0]))
    lead_frame = pd.DataFrame(
        {
            "lead_id": [r[0] for r in leads],
            "pipeline_id": [r[1] for r in leads],
            "user_id": 7,
            "created_at": pd.Series([r[3] for r in leads], dtype=f"datetime64[ns, {TZ}]"),
            "closed_at": pd.Series(pd.NaT, index=range(len(leads)), dtype=f"datetime64[ns, {TZ}]"),
            "status_id": pd.array([r[2] for r in leads], dtype="Int64"),
            "price": 1.0,
        }
    )
    stay_frame = pd.DataFrame(
        stays, columns=["lead_id", "pipeline_id", "status_id", "entered_at", "left_at"]
    )
    history = History(lead_frame, stay_frame, TZ)
    expected = _largest_drop_per_deal(history, order)
    assert expected is not None
    assert largest_drop(history, order) == expected
    # With thresholds met nowhere, both say so.
    assert largest_drop(history, {(3, 80): 1}) is None
    assert _largest_drop_per_deal(history, {(3, 80): 1}) is None
