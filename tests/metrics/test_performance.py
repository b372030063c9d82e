"""Module 5 — performance by seller and by channel, goals against actuals, and the filters.

The account lives in São Paulo (UTC−3); builder timestamps are UTC.
"""

from __future__ import annotations

import pytest

from tests.metrics.builders import (
    ANA,
    BRUNO,
    CARLA,
    LOST,
    PARTNER_TALK,
    PARTNERS,
    PIPELINE,
    PROPOSAL,
    WON,
    channel_row,
    cost,
    event,
    goal,
    lead,
    params,
    raw,
    run,
    seller,
)

# -- sellers ----------------------------------------------------------------------------------------

GOAL_DATA = raw(
    leads=[
        lead(1, "2026-11-02 12:00", status=WON, price=2500, closed="2026-11-10 12:00"),
        lead(2, "2026-11-03 12:00", responsible=BRUNO),
    ]
)
GOALS = [
    goal("2026-10", ANA, 6200.0),
    goal("2026-11", ANA, 10000.0, deals=4),
    goal("2026-11", BRUNO, 4000.0),
]
# Nov 1–15, seen from Nov 20.
FIRST_HALF = params("2026-11-01", "2026-11-15", as_of="2026-11-20T12:00:00-03:00")


def test_goal_is_pro_rated_by_the_days_of_the_month_in_the_period() -> None:
    result = run(GOAL_DATA, FIRST_HALF, goals=GOALS)
    assert result["goals_imported"] is True
    ana, bruno, carla = seller(result, ANA), seller(result, BRUNO), seller(result, CARLA)
    # 15 of November's 30 days: half of 10000. October's goal is not this period's.
    assert ana["goal"] == pytest.approx(5000.0)
    assert ana["attainment_pct"] == pytest.approx(50.0)  # 2500 won of 5000
    assert ana["deals_goal"] == pytest.approx(2.0)  # half of 4 deals
    assert bruno["goal"] == pytest.approx(2000.0)
    assert bruno["attainment_pct"] == 0.0  # a goal and nothing won: 0 %, a real number
    # No goal imported for Carla: nothing to compare with.
    assert carla["goal"] is None and carla["attainment_pct"] is None


def test_a_period_across_two_months_adds_both_shares() -> None:
    p = params("2026-10-17", "2026-11-15", as_of="2026-11-20T12:00:00-03:00")
    ana = seller(run(GOAL_DATA, p, goals=GOALS), ANA)
    # October 17–31 is 15 of 31 days (6200 → 3000); November 1–15 is 15 of 30 (10000 → 5000).
    assert ana["goal"] == pytest.approx(8000.0)
    assert ana["attainment_pct"] == pytest.approx(31.25)  # 2500 / 8000


def test_without_goals_nothing_is_invented() -> None:
    result = run(GOAL_DATA, FIRST_HALF)
    assert result["goals_imported"] is False
    assert all(s["goal"] is None and s["attainment_pct"] is None for s in result["sellers"])


def test_seller_rows() -> None:
    data = raw(
        leads=[
            lead(1, "2026-10-20 12:00", status=WON, price=1000, closed="2026-10-25 12:00"),
            lead(2, "2026-10-20 12:00", status=LOST, closed="2026-10-26 12:00"),
            lead(3, "2026-10-20 12:00"),
            lead(4, "2026-10-20 12:00", responsible=BRUNO),
        ],
        events=[
            event("outgoing_call", 1, "lead", "2026-10-20 13:00", ANA),  # 1 h
            event("outgoing_mail", 2, "lead", "2026-10-20 15:00", ANA),  # 3 h
            # Lead 3 is answered on Nov 5, after as_of (Nov 1): not a response yet.
            event("outgoing_call", 3, "lead", "2026-11-05 12:00", ANA),
            event("incoming_call", 4, "lead", "2026-10-21 12:00", BRUNO),
        ],
    )
    result = run(data, params(as_of="2026-11-01T12:00:00-03:00"))
    ana, bruno = seller(result, ANA), seller(result, BRUNO)
    assert ana["name"] == "Ana"
    assert ana["leads"] == 3  # leads 1, 2, 3 are hers
    assert (ana["won"], ana["lost"]) == (1, 1)
    assert ana["win_rate_pct"] == pytest.approx(50.0)
    assert ana["revenue"] == 1000.0 and ana["avg_ticket"] == 1000.0
    # (1 + 3) / 2: lead 3's answer comes after as_of, as in leads.response_time.
    assert ana["response_time_avg_hours"] == pytest.approx(2.0)
    assert result["leads"]["response_time"]["avg_hours"] == pytest.approx(2.0)
    assert ana["calls"] == 1  # the Oct 20 call; Nov 5 is not October's
    assert bruno["leads"] == 1
    assert bruno["response_time_avg_hours"] is None  # an incoming call is no answer
    assert bruno["win_rate_pct"] is None and bruno["avg_ticket"] is None  # nothing closed
    assert bruno["calls"] == 1  # incoming calls count for their author
    # Ranked by revenue: Ana first.
    assert result["sellers"][0]["user_id"] == ANA
    assert ana["rank"] == 1


# -- channels ---------------------------------------------------------------------------------------


def test_channels_with_and_without_costs() -> None:
    data = raw(
        leads=[
            lead(1, gclid="Cj0", status=WON, price=3000, closed="2026-10-20 12:00"),
            # Won after October but before as_of (Nov 15): "won to date" counts it.
            lead(2, utm_medium="cpc", status=WON, price=1000, closed="2026-11-10 12:00"),
            # Won after as_of: not yet.
            lead(3, utm_medium="cpc", status=WON, price=9999, closed="2026-11-20 12:00"),
            lead(4, utm_medium="cpc", status=PROPOSAL),
            # A September paid lead won in October is not one of October's leads.
            lead(5, "2026-09-25 12:00", utm_medium="cpc", status=WON, price=777,
                 closed="2026-10-05 12:00"),
            lead(6, utm_medium="organic"),
            lead(7, utm_medium="organic"),
            lead(8),  # outbound
        ],
    )  # fmt: skip
    costs = [
        cost("2026-10-01", "paid", 1000.0),
        cost("2026-10-01", "organic", 500.0),
        cost("2026-10-01", "referral", 200.0),
    ]
    result = run(data, costs=costs)
    paid = channel_row(result, "paid")
    assert (paid["leads"], paid["won"], paid["revenue"]) == (4, 2, 4000.0)  # leads 1–4; 1 and 2
    assert paid["cost"] == 1000.0
    assert paid["cpl"] == pytest.approx(250.0)  # 1000 / 4
    assert paid["roi_pct"] == pytest.approx(300.0)  # (4000 − 1000) / 1000
    organic = channel_row(result, "organic")
    assert organic["cpl"] == pytest.approx(250.0)  # 500 / 2
    assert organic["roi_pct"] == pytest.approx(-100.0)  # nothing won: all of it lost
    referral = channel_row(result, "referral")
    assert referral["cpl"] is None  # money spent, no lead: no cost per lead
    assert referral["roi_pct"] == pytest.approx(-100.0)
    outbound = channel_row(result, "outbound")
    assert outbound["leads"] == 1
    assert outbound["cost"] is None and outbound["cpl"] is None and outbound["roi_pct"] is None
    assert [c["channel"] for c in result["channels"]] == [
        "paid", "referral", "organic", "outbound", "other", "unknown",
    ]  # fmt: skip


def test_without_costs_there_is_no_cpl_or_roi() -> None:
    data = raw(leads=[lead(1, gclid="x", status=WON, price=100, closed="2026-10-20 12:00")])
    paid = channel_row(run(data), "paid")
    assert paid["revenue"] == 100.0
    assert paid["cost"] is None and paid["cpl"] is None and paid["roi_pct"] is None


# -- filters ----------------------------------------------------------------------------------------

FILTER_DATA = raw(
    leads=[
        lead(1, utm_medium="cpc", status=WON, price=1000, closed="2026-10-10 12:00"),
        lead(2, responsible=BRUNO, status=LOST, closed="2026-10-12 12:00"),  # outbound
        lead(3, pipeline=PARTNERS, responsible=BRUNO, utm_medium="cpc", status=WON, price=500,
             closed="2026-10-15 12:00"),
        lead(4, pipeline=PARTNERS, status=PARTNER_TALK, utm_medium="organic"),
    ],
)  # fmt: skip
FILTER_COSTS = [cost("2026-10-01", "paid", 300.0), cost("2026-10-01", "organic", 100.0)]


def test_no_filter() -> None:
    result = run(FILTER_DATA, costs=FILTER_COSTS)
    assert result["leads"]["total"] == 4
    assert (result["sales"]["won"], result["sales"]["lost"]) == (2, 1)
    assert result["sales"]["revenue"] == 1500.0
    assert result["leads"]["cost"]["total"] == 400.0


def test_pipeline_filter() -> None:
    result = run(FILTER_DATA, params(pipelines=(PARTNERS,)), costs=FILTER_COSTS)
    assert result["filters"]["pipelines"] == [PARTNERS]
    assert result["leads"]["total"] == 2  # leads 3 and 4
    assert (result["sales"]["won"], result["sales"]["lost"]) == (1, 0)  # lead 3
    assert result["sales"]["revenue"] == 500.0
    assert [f["pipeline_id"] for f in result["funnel"]] == [PARTNERS]  # Sales is filtered out
    assert seller(result, BRUNO)["revenue"] == 500.0  # lead 2 (Sales) is not in scope
    assert seller(result, ANA)["leads"] == 1  # lead 4
    # Costs are per channel: they cannot be split by pipeline, so they are not shown at all
    # rather than set against a part of the leads.
    assert result["leads"]["cost"]["total"] is None
    assert result["leads"]["cost"]["not_split_by_filter"] is True
    assert all(c["cost"] is None and c["cpl"] is None for c in result["channels"])


def test_seller_filter() -> None:
    result = run(FILTER_DATA, params(sellers=(BRUNO,)), costs=FILTER_COSTS)
    assert result["leads"]["total"] == 2  # leads 2 and 3
    assert (result["sales"]["won"], result["sales"]["lost"]) == (1, 1)
    assert result["sales"]["revenue"] == 500.0
    assert [s["user_id"] for s in result["sellers"]] == [BRUNO]
    assert {f["pipeline_id"]: f["leads"] for f in result["funnel"]} == {PIPELINE: 1, PARTNERS: 1}
    # Nor by seller.
    assert result["leads"]["cost"]["per_lead"] is None
    assert channel_row(result, "paid")["roi_pct"] is None


def test_channel_filter() -> None:
    result = run(FILTER_DATA, params(channels=("paid",)), costs=FILTER_COSTS)
    assert result["leads"]["total"] == 2  # leads 1 and 3
    assert result["leads"]["by_channel"]["paid"] == 2
    assert result["leads"]["by_channel"]["organic"] == 0
    assert (result["sales"]["won"], result["sales"]["lost"]) == (2, 0)
    assert result["sales"]["revenue"] == 1500.0
    assert result["leads"]["cost"]["total"] == 300.0  # only the paid channel's cost
    assert result["leads"]["cost"]["per_lead"] == pytest.approx(150.0)
    assert channel_row(result, "paid")["roi_pct"] == pytest.approx(400.0)  # (1500 − 300) / 300
    # Marketing as a whole: only paid has a cost in scope, so the same 400 %.
    assert result["marketing"]["roi_pct"] == pytest.approx(400.0)
    assert result["marketing"]["channels"] == ["paid"]
