"""Emulator conformance: the /_emulator control routes, live mode and the Python test API."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from starlette.types import ASGIApp

from kommo_analytics.emulator import control
from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig, LiveConfig
from kommo_analytics.emulator.state import EmulatorState, get_state
from kommo_analytics.emulator.tokens import decode_claims
from tests.emulator import harness
from tests.emulator.harness import account_store, protocol_app


def make_app(config: EmulatorConfig | None = None) -> ASGIApp:
    return protocol_app(config or EmulatorConfig(seed=5), time.time)


class FakeMutator:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.threads: set[str] = set()

    def tick(self, now: int, changes: int) -> dict[str, int]:
        self.calls.append((now, changes))
        self.threads.add(threading.current_thread().name)
        return {"leads_updated": changes, "events": 2 * changes}


@asynccontextmanager
async def client_for(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    async with harness.client_for(app, authorised=False) as client:
        yield client


def bearer(app: ASGIApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {get_state(app).tokens.demo_token}"}


@pytest.mark.anyio
async def test_health() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/_emulator/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "seed": 5, "scale": "small"}


@pytest.mark.anyio
async def test_stats_and_reset() -> None:
    app = make_app()
    async with client_for(app) as client:
        await client.get("/api/v4/ping", headers=bearer(app))
        await client.get("/api/v4/ping")
        await client.get("/api/v4/ping/nowhere", headers=bearer(app))
        await client.post("/oauth2/access_token", json={})
        stats: dict[str, Any] = (await client.get("/_emulator/stats")).json()
        assert stats["requests"] == 4
        assert stats["2xx"] == 1
        assert stats["401"] == 1
        assert stats["by_status"] == {"200": 1, "400": 1, "401": 1, "404": 1}
        assert stats["by_prefix"]["/api/v4/ping"]["requests"] == 3
        assert stats["by_prefix"]["/oauth2"] == {"requests": 1, "400": 1}
        assert stats["api_requests"] == 2  # requests that passed auth
        assert stats["faults"] == "none"
        assert stats == get_state(app).stats

        assert (await client.post("/_emulator/stats/reset")).status_code == 200
        assert (await client.get("/_emulator/stats")).json()["requests"] == 0


@pytest.mark.anyio
async def test_auth_code_endpoint_issues_working_codes() -> None:
    app = make_app()
    config = get_state(app).config
    async with client_for(app) as client:
        code = (await client.post("/_emulator/auth-code")).json()["code"]
        assert code.startswith("def50200")
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "redirect_uri": config.redirect_uri,
        }
        tokens = (await client.post("/oauth2/access_token", json=body)).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await client.get("/api/v4/ping", headers=headers)).status_code == 200


class TickingClock(harness.FakeClock):
    """A clock one second later at every read: any instant read twice shows as two."""

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.mark.anyio
async def test_long_lived_token_endpoint() -> None:
    clock = TickingClock()
    app = protocol_app(EmulatorConfig(seed=5), clock)
    async with client_for(app) as client:
        response = await client.post("/_emulator/long-lived-token", json={"ttl_seconds": 3600})
        token = response.json()["access_token"]
        # The answer's expiry is the token's own, not the clock read again afterwards.
        claims = decode_claims(token)
        assert response.json()["expires_at"] == claims["exp"] == claims["iat"] + 3600
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v4/ping", headers=headers)).status_code == 200
        bad = await client.post("/_emulator/long-lived-token", json={"ttl_seconds": -1})
        assert bad.status_code == 400


@pytest.mark.anyio
async def test_faults_endpoint() -> None:
    app = make_app()
    async with client_for(app) as client:
        assert (await client.get("/_emulator/faults")).json() == {"faults": "none"}
        response = await client.post("/_emulator/faults", json={"spec": "latency=5ms, 5xx=0.5"})
        assert response.json() == {"faults": "latency_ms=5.0, error_rate=0.5"}
        assert get_state(app).fault_spec.error_rate == 0.5

        bad = await client.post("/_emulator/faults", json={"spec": "5xx=2"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert "bad fault switch '5xx=2'" in bad.json()["detail"]
        assert "latency=50ms" in bad.json()["hint"]
        assert (await client.post("/_emulator/faults", json={"nope": 1})).status_code == 400
        assert (await client.post("/_emulator/faults", content=b"[")).status_code == 400
    assert get_state(app).fault_spec.error_rate == 0.5  # unchanged by the bad requests


@pytest.mark.anyio
async def test_unblock_endpoint_and_control_bypasses_the_block() -> None:
    app = make_app()
    state = get_state(app)
    state.limiter.block("127.0.0.1")  # ASGITransport's client address
    state.limiter.block("10.0.0.9")
    async with client_for(app) as client:
        assert (await client.get("/api/v4/ping", headers=bearer(app))).status_code == 403
        assert (await client.get("/_emulator/health")).status_code == 200
        response = await client.post("/_emulator/unblock", json={"ip": "10.0.0.9"})
        assert response.json() == {"unblocked": ["10.0.0.9"]}
        assert (await client.get("/api/v4/ping", headers=bearer(app))).status_code == 403
        response = await client.post("/_emulator/unblock")
        assert response.json() == {"unblocked": ["127.0.0.1"]}
        assert (await client.get("/api/v4/ping", headers=bearer(app))).status_code == 200
        assert (await client.post("/_emulator/unblock", json={"ip": 3})).status_code == 400


@pytest.mark.anyio
async def test_live_tick_endpoint_and_python_api() -> None:
    clock = harness.FakeClock()
    app = protocol_app(EmulatorConfig(seed=5), clock)
    state = get_state(app)
    mutator = FakeMutator()
    state.live_mutator = mutator
    async with client_for(app) as client:
        response = await client.post("/_emulator/live/tick?changes=4")
        assert response.status_code == 200
        assert response.json() == {"leads_updated": 4, "events": 8}
        clock.advance(90)
        assert state.live_tick(1) == {"leads_updated": 1, "events": 2}
        # Each batch is stamped with the emulator's clock at the time it is applied.
        assert mutator.calls == [(int(harness.T0), 4), (int(harness.T0) + 90, 1)]
        assert state.stats["live"] == {"ticks": 2, "changes": {"leads_updated": 5, "events": 10}}
        assert (await client.post("/_emulator/live/tick?changes=x")).status_code == 400


@pytest.mark.anyio
async def test_lifespan_runs_live_mode_off_the_loop_and_stops() -> None:
    state = EmulatorState(
        store=account_store(),
        config=EmulatorConfig(live=LiveConfig(interval_seconds=0.02, changes_per_tick=3)),
    )
    mutator = FakeMutator()
    state.live_mutator = mutator
    async with control.lifespan(state)(None):
        assert state.live_task is not None
        # Ticks every 20 ms; the ceiling is only for a loop that never runs.
        with anyio.fail_after(60):
            while len(mutator.calls) < 3:
                await anyio.sleep(0.01)
    assert state.live_task is None
    assert {changes for _, changes in mutator.calls} == {3}
    # The DuckDB work ran in a worker thread, not on the event loop's.
    assert threading.current_thread().name not in mutator.threads
    stopped_at = len(mutator.calls)
    await anyio.sleep(0.1)
    assert len(mutator.calls) == stopped_at


@pytest.mark.anyio
async def test_no_live_task_without_live_config() -> None:
    state = EmulatorState(store=account_store())
    async with control.lifespan(state)(None):
        assert state.live_task is None


@pytest.mark.anyio
async def test_get_state_and_create_app() -> None:
    app = create_app(account_store(), EmulatorConfig(seed=9))
    state = get_state(app)
    assert state.config.seed == 9
    async with client_for(app) as client:
        assert (await client.get("/api/v4/account")).status_code == 401
        response = await client.get("/api/v4/account", headers=bearer(app))
        assert response.status_code != 401
        assert (await client.get("/_emulator/health")).json()["seed"] == 9
    with pytest.raises(LookupError):
        get_state(object())
