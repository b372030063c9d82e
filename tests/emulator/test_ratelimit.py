"""Emulator conformance: 7 req/s → HTML 429 without Retry-After; repeated 429s → sticky 403."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx
import pytest
from starlette.types import ASGIApp

from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.ratelimit import RateLimiter, Verdict
from kommo_analytics.emulator.state import get_state
from tests.emulator.harness import FakeClock, client_for, protocol_app


def make_app(config: EmulatorConfig, clock: Callable[[], float]) -> ASGIApp:
    return protocol_app(config, clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def assert_html_429(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "429 Too Many Requests" in response.text
    assert "retry-after" not in response.headers


def assert_html_403(response: httpx.Response) -> None:
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<center><h1>403 Forbidden</h1></center>" in response.text


@pytest.mark.anyio
async def test_real_limit_of_7_per_second() -> None:
    """The documented limit, on the real clock: the 8th quick request is refused; a client
    pacing itself at 7/s is never refused."""
    app = make_app(EmulatorConfig(), time.time)
    async with client_for(app) as client:
        statuses = [(await client.get("/api/v4/ping")).status_code for _ in range(8)]
        assert statuses[:7] == [200] * 7
        assert_html_429(await client.get("/api/v4/ping"))

        await anyio.sleep(1.05)
        started = time.monotonic()
        paced = []
        while time.monotonic() - started < 2.0:
            sent = time.monotonic()
            paced.append((await client.get("/api/v4/ping")).status_code)
            # Relative pacing: every gap is at least 1/7 s, whatever the sleep overshoot.
            await anyio.sleep(max(0.0, 1 / 7 - (time.monotonic() - sent)) + 0.002)
        assert len(paced) >= 13
        assert set(paced) == {200}


@pytest.mark.anyio
async def test_window_slides_and_rejected_requests_count(clock: FakeClock) -> None:
    app = make_app(EmulatorConfig(block_after_violations=None), clock)
    async with client_for(app) as client:
        for _ in range(7):
            assert (await client.get("/api/v4/ping")).status_code == 200
            clock.advance(0.1)
        # 7 requests in the last 0.7 s: the 8th is over the limit.
        assert_html_429(await client.get("/api/v4/ping"))
        # Hammering keeps the client limited: refused requests fill the window too.
        for _ in range(20):
            clock.advance(0.1)
            assert (await client.get("/api/v4/ping")).status_code == 429
        # A full quiet second clears it.
        clock.advance(1.0)
        assert (await client.get("/api/v4/ping")).status_code == 200
        stats = get_state(app).stats
        assert stats["429_rate"] == 21
        assert stats["429"] == 21
        assert stats["violations"] == 21
        assert stats["403"] == 0


@pytest.mark.anyio
async def test_limit_is_per_token_and_oauth_counts(clock: FakeClock) -> None:
    app = make_app(EmulatorConfig(), clock)
    state = get_state(app)
    other = state.tokens.issue_long_lived()
    async with client_for(app) as client:
        for _ in range(7):
            assert (await client.get("/api/v4/ping")).status_code == 200
        assert (await client.get("/api/v4/ping")).status_code == 429
        response = await client.get("/api/v4/ping", headers={"Authorization": f"Bearer {other}"})
        assert response.status_code == 200
        # Token-less calls (the OAuth endpoint) are counted per IP.
        del client.headers["Authorization"]
        statuses = [
            (await client.post("/oauth2/access_token", json={})).status_code for _ in range(8)
        ]
        assert statuses == [400] * 7 + [429]
        # Control routes are never limited.
        assert (await client.get("/_emulator/health")).status_code == 200


@pytest.mark.anyio
async def test_repeated_violations_block_with_sticky_403(clock: FakeClock) -> None:
    app = make_app(EmulatorConfig(block_after_violations=3, block_window_seconds=60), clock)
    state = get_state(app)
    async with client_for(app) as client:
        statuses = [(await client.get("/api/v4/ping")).status_code for _ in range(10)]
        assert statuses == [200] * 7 + [429] * 3
        assert state.limiter.blocked == ["127.0.0.1"]
        assert_html_403(await client.get("/api/v4/ping"))
        # Slow, polite, with another token or on another endpoint: still 403, forever.
        other = state.tokens.issue_long_lived(ttl_seconds=10 * 86400)
        for _ in range(5):
            clock.advance(3600)
            assert_html_403(await client.get("/api/v4/ping"))
            assert_html_403(
                await client.get("/api/v4/ping", headers={"Authorization": f"Bearer {other}"})
            )
            assert_html_403(await client.post("/oauth2/access_token", json={}))
        stats = state.stats
        assert stats["blocks"] == 1
        assert stats["403"] == 16

        response = await client.post("/_emulator/unblock")
        assert response.json() == {"unblocked": ["127.0.0.1"]}
        assert (await client.get("/api/v4/ping")).status_code == 200


@pytest.mark.anyio
async def test_spread_out_violations_do_not_block(clock: FakeClock) -> None:
    app = make_app(EmulatorConfig(block_after_violations=3, block_window_seconds=10), clock)
    async with client_for(app) as client:
        for _ in range(6):
            for _ in range(7):
                await client.get("/api/v4/ping")
            assert (await client.get("/api/v4/ping")).status_code == 429
            clock.advance(6)  # two violations at most within any 10 s
        assert (await client.get("/api/v4/ping")).status_code == 200
        assert get_state(app).limiter.blocked == []


def test_limiter_rules() -> None:
    off = RateLimiter(float("inf"), 1, 60)
    assert all(off.hit("k", "ip", 0.0) is Verdict.ALLOW for _ in range(1000))

    limiter = RateLimiter(2.5, None, 60)  # rounds down: 2 per second
    assert limiter.allowed_per_second == 2
    assert [limiter.hit("k", "ip", 10.0).name for _ in range(3)] == ["ALLOW", "ALLOW", "LIMIT"]
    assert limiter.hit("k", "ip", 10.5) is Verdict.LIMIT  # refusals fill the window too
    # The window is (now - 1, now]: only the 10.5 request is in it.
    assert limiter.hit("k", "ip", 11.0) is Verdict.ALLOW
    assert limiter.hit("k", "ip", 11.2) is Verdict.LIMIT
    # A clock stepping backwards does not reopen the window.
    assert limiter.hit("k", "ip", 5.0) is Verdict.LIMIT

    blocking = RateLimiter(1, 2, 60)
    assert blocking.hit("a", "ip", 0.0) is Verdict.ALLOW
    assert blocking.hit("a", "ip", 0.1) is Verdict.LIMIT
    assert blocking.hit("b", "ip", 0.1) is Verdict.ALLOW  # another key, same IP
    assert blocking.hit("b", "ip", 0.2) is Verdict.BLOCK  # IP's second violation
    assert blocking.is_blocked("ip")
    assert blocking.unblock("other") == []
    assert blocking.unblock("ip") == ["ip"]
    assert not blocking.is_blocked("ip")
