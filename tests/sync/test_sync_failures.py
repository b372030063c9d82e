"""A sync that fails says why, records the failed run, and leaves what was stored intact."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from kommo_analytics.errors import FatalApiError
from kommo_analytics.sync.engine import SyncOptions
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import account, assert_matches_truth, duckdb_url, rows, settings_for, sync


class BreakingTransport(httpx.AsyncBaseTransport):
    """The emulator, except that one path answers with a validation error no retry can fix."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.path = path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            return httpx.Response(
                400,
                json={"title": "Bad Request", "status": 400, "detail": "Request validation failed"},
                headers={"content-type": "application/problem+json"},
            )
        return await self.inner.handle_async_request(request)


@pytest.mark.slow
def test_a_failing_stream_ends_the_run_and_keeps_what_was_stored(tmp_path: Path) -> None:
    acc = account(seed=3)
    url = duckdb_url(tmp_path)
    sync(acc, tmp_path, url)
    target = parse_database_url(url)
    state = f"SELECT watermark FROM {target.qualified('sync_state')} WHERE stream = 'events'"
    (events_mark,) = rows(target, state)[0]

    settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, tmp_path, url)
    with pytest.raises(FatalApiError) as info:
        run_sync(
            settings,
            SyncOptions(full=True),
            transport=BreakingTransport(acc.app, "/api/v4/events"),
            clock=acc.clock,
        )
    assert "/events" in info.value.one_line() and "HTTP 400" in info.value.one_line()

    runs = rows(
        target, f"SELECT status, error FROM {target.qualified('sync_runs')} ORDER BY started_at"
    )
    assert [status for status, _ in runs] == ["ok", "failed"]
    assert "/events" in runs[-1][1]
    # The events watermark did not move, and everything stored before is still there and right.
    assert rows(target, state)[0][0] == events_mark
    assert_matches_truth(acc.store, url)
