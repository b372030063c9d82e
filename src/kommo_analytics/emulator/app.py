"""The emulator as one ASGI application: Kommo routes wrapped in the protocol layer."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from kommo_analytics.emulator import control, oauth, protocol, resources
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.http import problem
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.store import AccountStore


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    detail = "Unknown route" if status == 404 else str(getattr(exc, "detail", ""))
    return problem(status, titles.get(status, "Error"), detail)


def create_app(
    store: AccountStore,
    config: EmulatorConfig | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> ASGIApp:
    state = EmulatorState(store=store, config=config or EmulatorConfig(), clock=clock or time.time)
    app = Starlette(
        routes=[*oauth.routes(state), *control.routes(state), *resources.routes(state)],
        exception_handlers={404: _http_error, 405: _http_error},
        lifespan=control.lifespan(state),
    )
    app.state.emulator = state
    return protocol.wrap(app, state)
