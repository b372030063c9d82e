"""Emulator conformance: every fault switch, and that the same seed meets the same faults."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec
from kommo_analytics.emulator.faults import draw
from kommo_analytics.emulator.http import hal_json, no_content
from kommo_analytics.emulator.state import get_state
from tests.emulator.harness import client_for, protocol_app

PAGE = {"_page": 1, "_embedded": {"leads": [{"id": i, "name": f"Lead {i}"} for i in range(40)]}}


def make_app(faults: str = "", seed: int = 1, **config: Any) -> ASGIApp:
    settings = {"rate_limit_per_second": 10_000, "block_after_violations": 1, **config}

    async def leads(request: Request) -> Response:
        return hal_json(PAGE)

    async def empty(request: Request) -> Response:
        return no_content()

    return protocol_app(
        EmulatorConfig(seed=seed, faults=FaultSpec.parse(faults), **settings),
        time.time,
        routes=[Route("/api/v4/leads", leads), Route("/api/v4/tasks", empty)],
    )


async def outcomes(app: ASGIApp, n: int, path: str = "/api/v4/leads") -> list[str]:
    """What a client sees for each of n requests, in one word."""
    seen = []
    async with client_for(app) as client:
        for _ in range(n):
            try:
                response = await client.get(path)
            except httpx.RemoteProtocolError:
                seen.append("drop")
                continue
            if response.status_code == 200:
                try:
                    response.json()
                    seen.append("200")
                except ValueError:
                    seen.append("truncated")
            else:
                seen.append(str(response.status_code))
    return seen


MIXED = "5xx=0.15, 429burst=0.05, 429burst_len=3, drop=0.1, truncate=0.1"


@pytest.mark.anyio
async def test_same_seed_meets_same_faults() -> None:
    first = await outcomes(make_app(MIXED, seed=7), 80)
    second = await outcomes(make_app(MIXED, seed=7), 80)
    other = await outcomes(make_app(MIXED, seed=8), 80)
    assert first == second
    assert first != other
    assert {"200", "429", "drop", "truncated"} <= set(first)
    assert set(first) & {"500", "502", "503", "504"}


def test_draws_do_not_depend_on_other_switches() -> None:
    only_drop = FaultSpec.parse("drop=0.3")
    with_more = FaultSpec.parse("drop=0.3, truncate=0.5, latency=5ms, jitter=5ms")
    for n in range(1, 200):
        assert draw(3, n, only_drop).drop_at == draw(3, n, with_more).drop_at
        jitter = draw(3, n, with_more).delay_seconds
        assert 0.005 <= jitter <= 0.010


@pytest.mark.anyio
async def test_latency_and_jitter() -> None:
    app = make_app("latency=40ms, jitter=20ms")
    started = time.perf_counter()
    assert await outcomes(app, 3) == ["200"] * 3
    assert time.perf_counter() - started >= 3 * 0.040


@pytest.mark.anyio
async def test_slow_pages() -> None:
    app = make_app("slow=1, slow_ms=150ms")
    started = time.perf_counter()
    assert await outcomes(app, 2) == ["200", "200"]
    assert time.perf_counter() - started >= 0.3
    # Some pages only, at the seeded positions.
    spec = FaultSpec.parse("slow=0.3, slow_ms=1s")
    slow = [n for n in range(1, 101) if draw(1, n, spec).delay_seconds > 0]
    assert 15 < len(slow) < 45


@pytest.mark.anyio
async def test_server_errors() -> None:
    app = make_app("5xx=1")
    async with client_for(app) as client:
        responses = [await client.get("/api/v4/leads") for _ in range(30)]
    statuses = {r.status_code for r in responses}
    assert statuses == {500, 502, 503, 504}
    for response in responses:
        if response.status_code == 500:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 500
        else:
            assert response.headers["content-type"].startswith("text/html")
            assert "nginx" in response.text
    assert get_state(app).stats["5xx"] == 30


@pytest.mark.anyio
async def test_429_bursts_are_html_and_never_block() -> None:
    app = make_app("429burst=0.1, 429burst_len=4")
    seen = await outcomes(app, 120)
    # Every burst is at least 4 long (two may run back to back).
    runs = "".join("x" if s == "429" else "." for s in seen).split(".")
    assert [len(r) for r in runs if r]
    assert all(len(r) >= 4 for r in runs if r)
    stats = get_state(app).stats
    assert stats["429_burst"] == seen.count("429") > 0
    # Bursts are the server's fault: no violation, no block (block_after_violations=1 here).
    assert stats["violations"] == 0
    assert stats["403"] == 0
    async with client_for(app) as client:
        get_state(app).set_faults(FaultSpec())
        response = await client.get("/api/v4/leads")
        assert response.status_code == 200


@pytest.mark.anyio
async def test_burst_response_shape() -> None:
    app = make_app("429burst=1, 429burst_len=2")
    async with client_for(app) as client:
        response = await client.get("/api/v4/leads")
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "retry-after" not in response.headers


@pytest.mark.anyio
async def test_drop_closes_the_connection_mid_body() -> None:
    app = make_app("drop=1")
    async with client_for(app) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/api/v4/leads")
        # A 204 has no body to cut, so it goes through.
        assert (await client.get("/api/v4/tasks")).status_code == 204
    stats = get_state(app).stats
    assert stats["dropped"] == 1
    assert stats["2xx"] == 1  # the 204 only: the dropped 200 never arrived


@pytest.mark.anyio
async def test_truncate_cuts_200_json_with_consistent_length() -> None:
    app = make_app("truncate=1")
    async with client_for(app) as client:
        response = await client.get("/api/v4/leads")
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        assert len(response.content) < len(json.dumps(PAGE, separators=(",", ":")))
        with pytest.raises(ValueError):
            response.json()
        assert (await client.get("/api/v4/tasks")).status_code == 204
        # Errors are never truncated; neither are OAuth or control responses.
        assert (await client.get("/_emulator/stats")).json()["truncated"] == 1


@pytest.mark.anyio
async def test_expire_tokens_after_n_requests_forces_a_refresh() -> None:
    app = make_app("expire_tokens_after=3")
    state = get_state(app)
    config = state.config
    async with client_for(app) as client:
        demo = dict(client.headers)
        pair = state.tokens.issue_pair()
        client.headers["Authorization"] = f"Bearer {pair.access_token}"
        assert [(await client.get("/api/v4/leads")).status_code for _ in range(4)] == [200] * 3 + [
            401
        ]
        assert (await client.get("/api/v4/leads")).json()["detail"] == "Token has expired"
        # Long-lived tokens are not affected.
        assert (await client.get("/api/v4/leads", headers=demo)).status_code == 200

        response = await client.post(
            "/oauth2/access_token",
            json={
                "grant_type": "refresh_token",
                "refresh_token": pair.refresh_token,
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "redirect_uri": config.redirect_uri,
            },
        )
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        # Request 4 (the demo one) was served; the sweep after 6 kills the new token too.
        assert [(await client.get("/api/v4/leads")).status_code for _ in range(3)] == [
            200,
            200,
            401,
        ]


@pytest.mark.anyio
async def test_faults_spare_oauth_and_control_routes() -> None:
    app = make_app("5xx=1, drop=1")
    async with client_for(app) as client:
        assert (await client.get("/_emulator/health")).status_code == 200
        assert (await client.post("/_emulator/auth-code")).status_code == 200
        assert (await client.post("/oauth2/access_token", json={})).status_code == 400


@pytest.mark.anyio
async def test_faults_change_at_runtime() -> None:
    app = make_app()
    state = get_state(app)
    assert await outcomes(app, 2) == ["200", "200"]
    state.set_faults(FaultSpec.parse("5xx=1"))
    assert state.fault_spec.error_rate == 1
    assert (await outcomes(app, 1))[0] in {"500", "502", "503", "504"}
    async with client_for(app) as client:
        response = await client.post("/_emulator/faults", json={"spec": "none"})
        assert response.json() == {"faults": "none"}
    assert await outcomes(app, 1) == ["200"]
    assert state.stats["api_requests"] == 4
