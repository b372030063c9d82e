from __future__ import annotations

from kommo_analytics.kommo.entities import (
    ENTITIES,
    EVENTS,
    LEADS,
    MAX_PAGE_SIZE,
    TRACKING_FIELD_CODES,
    Shape,
)


def test_every_paged_entity_has_a_page_size_within_kommos_cap() -> None:
    for entity in ENTITIES.values():
        if entity.shape is Shape.PAGED:
            assert entity.page_size is not None and entity.embedded_key
            assert entity.page_size <= (entity.max_page_size or 0) <= MAX_PAGE_SIZE


def test_events_page_at_100_because_larger_requests_silently_get_50() -> None:
    assert EVENTS.page_size == 100
    assert EVENTS.cursor_field == "created_at"


def test_sync_asks_leads_only_for_with_options_the_api_accepts() -> None:
    for entity in ENTITIES.values():
        assert set(entity.with_options) <= set(entity.allowed_with)
    assert set(LEADS.with_options) == {"contacts", "loss_reason", "source"}


def test_paths_are_relative_to_api_v4_and_unique() -> None:
    paths = [e.path for e in ENTITIES.values()]
    assert all(p.startswith("/") and not p.startswith("/api") for p in paths)
    assert len(paths) == len(set(paths))


def test_tracking_codes_are_the_utm_set() -> None:
    assert TRACKING_FIELD_CODES[:3] == ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN")
    assert {"GCLID", "FBCLID", "REFERRER"} <= set(TRACKING_FIELD_CODES)


def test_an_entitys_cursor_field_is_one_it_can_be_filtered_on() -> None:
    for entity in ENTITIES.values():
        if entity.cursor_field is not None:
            assert entity.cursor_field in entity.filters, entity.name
