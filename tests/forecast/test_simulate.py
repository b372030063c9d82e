from __future__ import annotations

from datetime import date

import pytest

from kommo_analytics.forecast import Goal, History, forecast
from kommo_analytics.forecast.simulate import risk_of
from tests.forecast.builders import at, history

NOW = at("2026-01-16")


def _uneven() -> History:
    # Lead volume alternating 33 / 47 a month: the volume forecast has a real spread.
    return history(months=13, per_month=lambda m: 40 + (7 if m % 2 else -7))


def test_same_inputs_and_seed_give_the_same_numbers() -> None:
    h = history(months=13)
    first = forecast(h, now=NOW, seed=7, draws=300).to_dict()
    assert forecast(h, now=NOW, seed=7, draws=300).to_dict() == first
    assert forecast(h, now=NOW, seed=8, draws=300).to_dict() != first


def test_the_same_history_in_another_row_order_gives_the_same_numbers() -> None:
    h = history(months=13)
    shuffled = type(h)(h.leads.sample(frac=1, random_state=1), h.stays[::-1], h.tz)
    assert forecast(shuffled, now=NOW, seed=7, draws=300) == forecast(h, now=NOW, seed=7, draws=300)


def test_ranges_widen_with_the_horizon() -> None:
    # On the 16th half the month is already known (won to date) and the open deals close
    # within 15 days; the next months rest on leads not yet created, whose forecast spread grows
    # like √h. Revenue comes in steps of one ticket (1,000), hence ≤ between the two later
    # months and < from the current one.
    result = forecast(_uneven(), now=NOW, seed=3, draws=400)
    assert result.company is not None
    months = result.company.months
    widths = [m.revenue.p90 - m.revenue.p10 for m in months]
    assert widths[0] < widths[1] <= widths[2]
    assert widths[0] < widths[2]
    for m in months:
        assert m.revenue.p10 <= m.revenue.p50 <= m.revenue.p90
        assert m.won_deals.p10 <= m.won_deals.p50 <= m.won_deals.p90


def test_revenue_won_to_date_is_part_of_the_current_month() -> None:
    result = forecast(history(months=13), now=NOW, seed=1, draws=300)
    assert result.company is not None
    current = result.company.months[0]
    # Leads created in December and early January close 15 days later: some are won by now.
    assert current.won_to_date > 0
    assert current.won_deals_to_date == current.won_to_date / 1000
    assert current.revenue.p10 >= current.won_to_date
    assert result.company.months[1].won_to_date == 0


def test_pipelines_and_sellers_add_up_to_the_company_on_average() -> None:
    # Every deal has a pipeline and a seller, and every recent win too, so the shares of
    # new-lead revenue add up to one: the means (not the percentiles) must add up.
    result = forecast(history(months=13), now=NOW, seed=1, draws=300)
    assert result.company is not None
    for m in range(3):
        company = result.company.months[m].revenue.mean
        assert sum(p.months[m].revenue.mean for p in result.pipelines) == pytest.approx(company)
        assert sum(s.months[m].revenue.mean for s in result.sellers) == pytest.approx(company)
    assert [s.id for s in result.sellers] == [1, 2]


def test_goals_get_a_probability_and_a_risk() -> None:
    goals = [
        Goal(date(2026, 1, 1), 0.0),  # reached in every draw
        Goal(date(2026, 2, 1), 1_000_000.0),  # never
        Goal(date(2026, 2, 1), 2_000.0, user_id=1),
        Goal(date(2027, 1, 1), 5_000.0),  # outside the three months: not scored
    ]
    result = forecast(history(months=13), now=NOW, seed=1, draws=300, goals=goals)
    easy, hard, seller = result.goals
    assert (easy.probability, easy.risk) == (1.0, "low")
    assert (hard.probability, hard.risk) == (0.0, "high")
    assert hard.gap == pytest.approx(1_000_000.0 - hard.p50)
    assert seller.user_id == 1
    assert 0.0 <= seller.probability <= 1.0
    assert len(result.goals) == 3


@pytest.mark.parametrize(
    ("probability", "risk"),
    [(0.0, "high"), (0.49, "high"), (0.5, "medium"), (0.79, "medium"), (0.8, "low"), (1.0, "low")],
)
def test_risk_levels(probability: float, risk: str) -> None:
    assert risk_of(probability) == risk
