"""Module 4 — sales and revenue: deals won and lost by their closing date in the period.

Period: October 2026 (São Paulo, UTC−3); as_of 15 Nov 2026 12:00 local. Builder timestamps UTC.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.metrics.builders import (
    ANA,
    BRUNO,
    CARLA,
    LOST,
    NO_BUDGET,
    PRICE_TOO_HIGH,
    PROPOSAL,
    QUALIFIED,
    WON,
    lead,
    local,
    move,
    raw,
    run,
    seller,
)

STORY = raw(
    leads=[
        # Won in October: cycles 10, 4, 20 and 2 days.
        lead(1, "2026-09-21 12:00", status=WON, price=1000, closed="2026-10-01 12:00"),
        lead(2, "2026-10-01 12:00", status=WON, price=None, closed="2026-10-05 12:00"),
        lead(3, "2026-10-02 00:00", status=WON, price=2000, closed="2026-10-22 00:00",
             responsible=BRUNO),
        # Won at 23:30 local on Oct 31 (02:30 UTC Nov 1): October's.
        lead(5, local("2026-10-29 23:30"), status=WON, price=600,
             closed=local("2026-10-31 23:30"), responsible=CARLA),
        # Won at 00:30 local on Nov 1: November's.
        lead(4, "2026-10-02 00:00", status=WON, price=500, closed=local("2026-11-01 00:30"),
             responsible=BRUNO),
        # Lost in October.
        lead(11, status=LOST, price=800, closed="2026-10-08 12:00", loss_reason=PRICE_TOO_HIGH),
        lead(12, status=LOST, price=None, closed="2026-10-09 12:00", loss_reason=PRICE_TOO_HIGH,
             responsible=BRUNO),
        lead(13, status=LOST, price=300, closed="2026-10-10 12:00", responsible=BRUNO),
        # Won on Oct 3, reopened, lost on Oct 15: a loss of October, by its final closing date.
        lead(14, "2026-10-01 12:00", status=LOST, price=1200, closed="2026-10-15 12:00",
             loss_reason=NO_BUDGET),
        # Won in October, reopened, open now: Kommo kept its closed_at; it is not a sale.
        lead(15, status=PROPOSAL, price=700, closed="2026-10-08 12:00"),
        # Lost in October but deleted: nowhere.
        lead(16, status=LOST, price=5000, closed="2026-10-09 12:00", deleted=True),
        # Lost in September: not October's.
        lead(17, "2026-09-01 12:00", status=LOST, price=100, closed="2026-09-20 12:00"),
    ],
    events=[
        move(14, "2026-10-02 12:00", QUALIFIED, PROPOSAL),
        move(14, "2026-10-03 12:00", PROPOSAL, WON),
        move(14, "2026-10-06 12:00", WON, PROPOSAL),
        move(14, "2026-10-15 12:00", PROPOSAL, LOST),
        move(15, "2026-10-08 12:00", PROPOSAL, WON),
        move(15, "2026-10-09 12:00", WON, PROPOSAL),
    ],
)  # fmt: skip


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return run(STORY)


def test_no_sales_means_zero_counts_and_unknown_rates() -> None:
    s = run(raw(leads=[lead(1)]))["sales"]
    assert (s["won"], s["lost"], s["revenue"]) == (0, 0, 0.0)
    assert s["win_rate_pct"] is None  # 0 of 0 deals
    assert s["avg_ticket"] is None
    assert s["sales_cycle_avg_days"] is None and s["sales_cycle_median_days"] is None
    assert s["loss_reasons"] == []


def test_won_and_lost_by_closing_date(story: dict[str, Any]) -> None:
    s = story["sales"]
    # Won: 1, 2, 3 and 5 (23:30 local on Oct 31). Not 4 (Nov 1 local) nor 15 (open again).
    assert s["won"] == 4
    # Lost: 11, 12, 13 and 14 (the reopened deal, lost on Oct 15). Not 16 (deleted), 17 (Sep).
    assert s["lost"] == 4
    assert s["win_rate_pct"] == pytest.approx(50.0)  # 4 / (4 + 4)


def test_revenue_ignores_a_missing_price_but_the_deal_still_counts(story: dict[str, Any]) -> None:
    s = story["sales"]
    assert s["revenue"] == 3600.0  # 1000 + 2000 + 600; lead 2 has no price
    assert s["avg_ticket"] == pytest.approx(900.0)  # revenue / won = 3600 / 4, lead 2 included
    assert s["won_without_price"] == 1  # lead 2, for the data-quality warning


def test_a_zero_price_is_no_price() -> None:
    # Kommo sends price 0 when the deal's value is empty: such a won deal has no value, exactly
    # like one whose price is missing.
    s = run(
        raw(
            leads=[
                lead(1, status=WON, price=1000, closed="2026-10-10 12:00"),
                lead(2, status=WON, price=0, closed="2026-10-11 12:00"),  # Kommo's "empty"
                lead(3, status=WON, price=None, closed="2026-10-12 12:00"),
                # Lost with price 0: not a won deal, so not counted as won without a value.
                lead(4, status=LOST, price=0, closed="2026-10-13 12:00"),
                # Won with price 0 but in November: not October's.
                lead(5, status=WON, price=0, closed="2026-11-03 12:00"),
            ]
        )
    )["sales"]
    assert s["won"] == 3  # 1, 2 and 3
    assert s["won_without_price"] == 2  # 2 (price 0) and 3 (no price)
    assert s["revenue"] == 1000.0  # only lead 1 has a value
    # The contract: average ticket = revenue / won, so the deals without a value are in the
    # denominator (the dashboard says how many pull it down): 1000 / 3.
    assert s["avg_ticket"] == pytest.approx(1000 / 3)


def test_sales_cycle(story: dict[str, Any]) -> None:
    s = story["sales"]
    # Won deals' cycles: 10 (Sep 21 → Oct 1), 4, 20 and 2 days.
    assert s["sales_cycle_avg_days"] == pytest.approx(9.0)  # 36 / 4
    assert s["sales_cycle_median_days"] == pytest.approx(7.0)  # (4 + 10) / 2


def test_loss_reasons(story: dict[str, Any]) -> None:
    assert story["sales"]["loss_reasons"] == [
        # 11 and 12; 12 has no price, so only 11's 800 is lost value.
        {"reason": "Price too high", "count": 2, "share_pct": 50.0, "value": 800.0},
        # Same count: the larger lost value comes first.
        {"reason": "No budget", "count": 1, "share_pct": 25.0, "value": 1200.0},  # 14
        {"reason": "not specified", "count": 1, "share_pct": 25.0, "value": 300.0},  # 13
    ]


def test_per_seller_by_current_responsible_user(story: dict[str, Any]) -> None:
    ana, bruno, carla = seller(story, ANA), seller(story, BRUNO), seller(story, CARLA)
    # Ana: won 1 and 2 (1000 + no price), lost 11 and 14.
    assert (ana["won"], ana["lost"], ana["revenue"]) == (2, 2, 1000.0)
    assert ana["win_rate_pct"] == pytest.approx(50.0)
    assert ana["avg_ticket"] == pytest.approx(500.0)  # 1000 / 2
    # Bruno: won 3 (2000), lost 12 and 13; lead 4 is November's.
    assert (bruno["won"], bruno["lost"], bruno["revenue"]) == (1, 2, 2000.0)
    assert bruno["win_rate_pct"] == pytest.approx(100 / 3)
    # Carla: lead 5 only.
    assert (carla["won"], carla["lost"], carla["revenue"]) == (1, 0, 600.0)
    assert carla["win_rate_pct"] == 100.0
