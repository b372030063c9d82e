"""The pages that read report fields by name from a list (cards, export columns) name fields the
typed report has: a renamed field fails here, not on a page at render time."""

from __future__ import annotations

from kommo_analytics.dashboard.app_pages import activities, intake, performance, sales
from kommo_analytics.metrics.intake import UTM_DIMENSIONS
from kommo_analytics.metrics.results import Activities, Sales, Seller, UnknownOrigin, UtmTables


def test_card_lists_name_fields_of_their_section() -> None:
    assert {card for card, *_ in activities.CARDS} <= set(Activities.model_fields)
    assert {card for card, *_ in sales.CARDS} <= set(Sales.model_fields)


def test_column_and_reason_lists_name_fields_of_their_rows() -> None:
    assert set(performance.RANKING_FIELDS.values()) <= set(Seller.model_fields)
    assert set(intake.UNKNOWN_REASONS) <= set(UnknownOrigin.model_fields)
    assert set(UTM_DIMENSIONS) == set(UtmTables.model_fields)
