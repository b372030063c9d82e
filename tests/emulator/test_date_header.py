"""Every response carries the server's time, as nginx in front of Kommo sends it: the sync bounds
its windows by it."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from tests.emulator.harness import T0, FakeClock, client_for, protocol_app


@pytest.mark.anyio
async def test_responses_carry_the_emulator_clock_in_a_date_header() -> None:
    clock = FakeClock()
    app = protocol_app(clock=clock)
    async with client_for(app) as client:
        first = await client.get("/api/v4/ping")
        clock.advance(3600)
        refused = await client.get("/api/v4/ping", headers={"Authorization": "Bearer nope"})
    assert parsedate_to_datetime(first.headers["date"]).timestamp() == T0
    assert parsedate_to_datetime(refused.headers["date"]).timestamp() == T0 + 3600
    assert len(first.headers.get_list("date")) == 1
