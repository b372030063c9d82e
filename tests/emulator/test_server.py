"""The emulator behind a real uvicorn server: tokens, the limit, dropped and truncated bodies
and live mode look on the wire as they do in-process."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kommo_analytics.emulator import control, oauth, protocol
from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec, LiveConfig
from kommo_analytics.emulator.http import hal_json
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.store import AccountStore

PAGE = {"_page": 1, "_embedded": {"leads": [{"id": i, "name": f"Lead {i}"} for i in range(200)]}}


class FakeMutator:
    def __init__(self) -> None:
        self.ticks = 0

    def tick(self, now: int, changes: int) -> dict[str, int]:
        self.ticks += 1
        return {"leads": changes}


class Server:
    def __init__(self, state: EmulatorState, base_url: str) -> None:
        self.state = state
        self.base_url = base_url

    def client(self) -> httpx.Client:
        """A client with a token of its own, so that tests do not share a rate window."""
        token = self.state.tokens.issue_long_lived()
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    store = AccountStore.empty()
    store.cursor().execute("INSERT INTO account (id, name, subdomain) VALUES (1, 'T', 't')")
    config = EmulatorConfig(
        block_after_violations=None, live=LiveConfig(interval_seconds=0.05, changes_per_tick=2)
    )
    state = EmulatorState(store=store, config=config)
    state.live_mutator = FakeMutator()

    async def leads(request: Request) -> Response:
        return hal_json(PAGE)

    app = Starlette(
        routes=[*oauth.routes(state), *control.routes(state), Route("/api/v4/leads", leads)],
        lifespan=control.lifespan(state),
    )
    with serve_in_thread(protocol.wrap(app, state)) as base:
        yield Server(state, base)


@pytest.fixture(autouse=True)
def no_faults(server: Server) -> Iterator[None]:
    yield
    server.state.set_faults(FaultSpec())


def test_token_works_over_http(server: Server) -> None:
    with server.client() as client:
        response = client.get("/api/v4/leads")
        assert response.status_code == 200
        assert response.json() == PAGE
        del client.headers["Authorization"]
        assert client.get("/api/v4/leads").status_code == 401
        assert client.get("/_emulator/health").json()["status"] == "ok"


def test_limit_over_http(server: Server) -> None:
    statuses = []
    with server.client() as client:
        # Normally the 8th; a slow machine may need a few more to squeeze 8 into one second.
        for _ in range(30):
            limited = client.get("/api/v4/leads")
            statuses.append(limited.status_code)
            if limited.status_code == 429:
                break
    assert statuses[:7] == [200] * 7
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert "retry-after" not in limited.headers


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_dropped_connection_is_a_transport_error(server: Server) -> None:
    server.state.set_faults(FaultSpec.parse("drop=1"))
    # uvicorn's loggers do not propagate to the root logger, so caplog would not see them.
    uvicorn_errors = logging.getLogger("uvicorn.error")
    handler = _Records()
    uvicorn_errors.addHandler(handler)
    try:
        with server.client() as client:
            with pytest.raises(httpx.TransportError) as raised:
                client.get("/api/v4/leads")
            assert isinstance(raised.value, httpx.RemoteProtocolError)
            # The client recovers on a new connection once the fault is gone.
            server.state.set_faults(FaultSpec())
            assert client.get("/api/v4/leads").status_code == 200
    finally:
        uvicorn_errors.removeHandler(handler)
    # A deliberate drop is not logged as a server crash.
    assert not [r for r in handler.records if r.levelno >= logging.ERROR]
    assert server.state.stats["dropped"] == 1


def test_truncated_body_is_200_with_invalid_json(server: Server) -> None:
    server.state.set_faults(FaultSpec.parse("truncate=1"))
    with server.client() as client:
        response = client.get("/api/v4/leads")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(ValueError):
        response.json()


def test_live_mode_runs_under_the_server(server: Server) -> None:
    mutator = server.state.live_mutator
    assert isinstance(mutator, FakeMutator)
    # Ticks every 50 ms; the ceiling is only for a loop that never runs.
    deadline = time.monotonic() + 60
    while mutator.ticks < 2:
        assert time.monotonic() < deadline, "live mode did not tick twice in 60 s"
        time.sleep(0.02)
    with server.client() as client:
        stats = client.get("/_emulator/stats").json()
    assert stats["live"]["ticks"] >= 2
