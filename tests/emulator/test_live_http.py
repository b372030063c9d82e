"""Live mode seen through the API: what an incremental sync will have to cope with."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.generator import build_account
from kommo_analytics.emulator.state import get_state

NOW = 1_795_618_800  # 2026-11-25 15:00 UTC


# Live mode changes open deals, which are the recently updated ones: crawl the last 90 days.
WINDOW_FROM = NOW - 90 * 86400


def _crawl_page(client: TestClient, page: int) -> list[dict[str, Any]]:
    params = {"order[updated_at]": "asc", "filter[updated_at][from]": WINDOW_FROM}
    response = client.get("/api/v4/leads", params={**params, "limit": 25, "page": page})
    if response.status_code == 204:
        return []
    leads: list[dict[str, Any]] = response.json()["_embedded"]["leads"]
    return leads


def test_changes_during_an_updated_at_crawl_shift_rows_between_pages() -> None:
    store = build_account(seed=11, scale="small", now=NOW)
    clock = [float(NOW + 3600)]
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e6), clock=lambda: clock[0])
    state = get_state(app)
    client = TestClient(app, headers={"Authorization": f"Bearer {state.tokens.demo_token}"})

    seen: list[int] = []
    page = 1
    while rows := _crawl_page(client, page):
        seen += [row["id"] for row in rows]
        if page == 2:
            # Changes land while the crawler is between pages 2 and 3.
            counts = state.live_tick(60)
            assert sum(counts.values()) >= 60
        page += 1

    cur = store.cursor()
    visible = {
        int(r[0]) for r in cur.execute("SELECT id FROM leads WHERE NOT is_deleted").fetchall()
    }
    changed = {
        int(r[0])
        for r in cur.execute(
            "SELECT id FROM leads WHERE updated_at >= ? AND NOT is_deleted", [NOW + 3600]
        ).fetchall()
    }
    assert changed, "live mode changed no visible lead"
    # Changed leads moved to the end of the ordering and were served (again) there...
    assert set(seen[-len(changed) :]) == changed
    # ...and the rows they vacated shifted earlier pages: a plain page-by-page crawl missed
    # some leads. This is the drift an incremental sync must guard against.
    assert visible - set(seen), "no row was skipped: drift was not reproduced"


def test_live_changes_are_visible_to_an_updated_at_window() -> None:
    store = build_account(seed=12, scale="small", now=NOW)
    clock = [float(NOW + 600)]
    app = create_app(store, EmulatorConfig(rate_limit_per_second=1e6), clock=lambda: clock[0])
    state = get_state(app)
    client = TestClient(app, headers={"Authorization": f"Bearer {state.tokens.demo_token}"})
    window = {"filter[updated_at][from]": NOW + 1, "limit": 250}
    assert client.get("/api/v4/leads", params=window).status_code == 204

    counts = state.live_tick(30)
    response = client.get("/api/v4/leads", params=window)
    assert response.status_code == 200
    updated = response.json()["_embedded"]["leads"]
    assert {lead["updated_at"] for lead in updated} == {NOW + 600}
    new_leads = [lead for lead in updated if lead["created_at"] == NOW + 600]
    assert len(new_leads) == counts.get("new_lead", 0)
    events = client.get(
        "/api/v4/events", params={"filter[created_at][from]": NOW + 1, "limit": 100}
    ).json()["_embedded"]["events"]
    assert {event["created_at"] for event in events} == {NOW + 600}
    if counts.get("stage_move"):
        assert any(event["type"] == "lead_status_changed" for event in events)
