"""The dashboard keeps answering while a sync writes the warehouse (no lock errors, no half
loads): pages are run again and again during a full re-sync that publishes after every commit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kommo_analytics.sync.engine import SyncOptions, SyncResult
from tests.dashboard.conftest import MakeApp
from tests.dashboard.test_app import HEALTH, LEADS, no_exception, shown_count
from tests.sync.harness import account, sync, synced_copy


@pytest.mark.slow
def test_pages_load_while_a_sync_writes(
    make_app: MakeApp, small_synced: Path, tmp_path: Path
) -> None:
    acc = account(seed=3)
    url = synced_copy(small_synced, tmp_path)  # this account, synced
    params = {"period": "custom", "from": "2024-01-01", "to": "2026-12-31"}
    before = make_app(url, LEADS, **params).run()
    no_exception(before)
    expected = shown_count(before)
    assert expected > 0

    results: list[SyncResult] = []
    resync = threading.Thread(
        target=lambda: results.append(
            sync(acc, tmp_path, url, SyncOptions(full=True, publish_every_seconds=0))
        )
    )
    resync.start()
    renders = during = 0
    while resync.is_alive() or renders < 3:
        during += resync.is_alive()
        app = make_app(url, LEADS, **params).run()
        no_exception(app)
        assert not app.error, [e.value for e in app.error]
        # A full re-sync rewrites the same rows: every render sees the same count, never a
        # half-published table.
        assert shown_count(app) == expected
        app.switch_page(HEALTH).run()
        no_exception(app)
        assert not app.error, [e.value for e in app.error]
        overview = make_app(url, **params).run()
        no_exception(overview)
        assert not overview.error, [e.value for e in overview.error]
        renders += 1
    resync.join()
    assert results and results[0].status == "ok"
    assert during >= 3, "the sync ended before the pages could load during it"
