"""The protocol layer (auth, OAuth, limits, faults, control routes) around tiny test routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from kommo_analytics.emulator import control, oauth, protocol
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.http import hal_json
from kommo_analytics.emulator.state import EmulatorState, get_state
from kommo_analytics.emulator.store import AccountStore

T0 = 1_795_000_000.0  # 2026-11-18


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _ping(request: Request) -> Response:
    return hal_json({"ok": True})


PING = Route("/api/v4/ping", _ping)


def account_store(account_id: int = 1) -> AccountStore:
    """A store holding nothing but the account row the protocol layer needs."""
    store = AccountStore.empty()
    store.cursor().execute(
        "INSERT INTO account (id, name, subdomain, current_user_id) VALUES (?, 'Test', 'acme', 8)",
        [account_id],
    )
    store.set_meta("scale", "small")
    return store


def protocol_app(
    config: EmulatorConfig | None = None,
    clock: Callable[[], float] | None = None,
    *,
    routes: Sequence[BaseRoute] = (PING,),
    account_id: int = 1,
) -> ASGIApp:
    state = EmulatorState(
        store=account_store(account_id),
        config=config or EmulatorConfig(rate_limit_per_second=1000),
        clock=clock or FakeClock(),
    )
    app = Starlette(
        routes=[*oauth.routes(state), *control.routes(state), *routes],
        lifespan=control.lifespan(state),
    )
    return protocol.wrap(app, state)


@asynccontextmanager
async def client_for(
    app: ASGIApp, *, authorised: bool = True, base_url: str = "http://kommo.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client; `authorised` sends the emulator's demo token."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        if authorised:
            client.headers["Authorization"] = f"Bearer {get_state(app).tokens.demo_token}"
        yield client
