"""Emulator-only control routes under ``/_emulator/`` and the live-mode lifespan.

These routes do not exist on the real Kommo API. They need no token and bypass the rate
limit, the block and the faults, so tests and demos can drive the emulator at any time:

=========================================  ===================================================
``GET  /_emulator/health``                 ``{"status": "ok", "seed": .., "scale": ..}``
``GET  /_emulator/stats``                  request counters (see ``EmulatorState.stats``)
``POST /_emulator/stats/reset``            zero the counters
``POST /_emulator/auth-code``              ``{"code": ..}``: a fresh authorization code
``POST /_emulator/long-lived-token``       ``{"access_token": .., "expires_at": ..}``;
                                           optional body ``{"ttl_seconds": n}``
``GET  /_emulator/faults``                 ``{"faults": "<description>"}``
``POST /_emulator/faults``                 body ``{"spec": "<FaultSpec syntax>"}``: replace them
``POST /_emulator/unblock``                lift the sticky 403; optional body ``{"ip": ..}``
``POST /_emulator/live/tick?changes=N``    apply N live changes now; returns the counts
=========================================  ===================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kommo_analytics.emulator.config import FaultSpec
from kommo_analytics.emulator.http import problem
from kommo_analytics.emulator.state import EmulatorState
from kommo_analytics.emulator.tokens import decode_claims
from kommo_analytics.errors import EmulatorError

log = logging.getLogger(__name__)


async def _json_body(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def routes(state: EmulatorState) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        scale = await anyio.to_thread.run_sync(state.store.get_meta, "scale")
        return JSONResponse({"status": "ok", "seed": state.config.seed, "scale": scale})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats)

    async def stats_reset(request: Request) -> Response:
        state.reset_stats()
        return JSONResponse({"status": "ok"})

    async def auth_code(request: Request) -> Response:
        return JSONResponse({"code": state.tokens.issue_auth_code()})

    async def long_lived_token(request: Request) -> Response:
        body = await _json_body(request)
        ttl = (body or {}).get("ttl_seconds", 365 * 86400)
        if body is None or not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            return problem(400, "Bad Request", 'body must be {"ttl_seconds": <positive int>}')
        token = state.tokens.issue_long_lived(ttl, request.headers.get("host") or "localhost")
        # The token's own `exp`: reading the clock again could land a second later.
        return JSONResponse({"access_token": token, "expires_at": decode_claims(token)["exp"]})

    async def get_faults(request: Request) -> Response:
        return JSONResponse({"faults": state.fault_spec.describe()})

    async def set_faults(request: Request) -> Response:
        body = await _json_body(request)
        spec_text = (body or {}).get("spec")
        if body is None or not isinstance(spec_text, str):
            return problem(400, "Bad Request", 'body must be {"spec": "<fault switches>"}')
        try:
            spec = FaultSpec.parse(spec_text)
        except EmulatorError as exc:
            return problem(400, "Bad Request", exc.message, hint=exc.hint)
        state.set_faults(spec)
        return JSONResponse({"faults": spec.describe()})

    async def unblock(request: Request) -> Response:
        body = await _json_body(request)
        ip = (body or {}).get("ip")
        if body is None or (ip is not None and not isinstance(ip, str)):
            return problem(400, "Bad Request", 'body must be empty or {"ip": "<address>"}')
        return JSONResponse({"unblocked": state.unblock(ip)})

    async def live_tick(request: Request) -> Response:
        default = state.config.live.changes_per_tick if state.config.live else 5
        try:
            changes = int(request.query_params.get("changes", default))
        except ValueError:
            return problem(400, "Bad Request", "changes must be an integer")
        if changes < 0:
            return problem(400, "Bad Request", "changes must not be negative")
        counts = await anyio.to_thread.run_sync(state.live_tick, changes)
        return JSONResponse(counts)

    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/stats/reset", stats_reset, methods=["POST"]),
        Route("/_emulator/auth-code", auth_code, methods=["POST"]),
        Route("/_emulator/long-lived-token", long_lived_token, methods=["POST"]),
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", set_faults, methods=["POST"]),
        Route("/_emulator/unblock", unblock, methods=["POST"]),
        Route("/_emulator/live/tick", live_tick, methods=["POST"]),
    ]


async def _live_loop(state: EmulatorState) -> None:
    live = state.config.live
    assert live is not None
    while True:
        await asyncio.sleep(live.interval_seconds)
        try:
            # DuckDB work blocks: keep it off the event loop. Not abandoned on cancel, so that
            # shutdown waits for a half-applied batch instead of leaving it behind.
            await anyio.to_thread.run_sync(state.live_tick, live.changes_per_tick)
        except Exception:
            # One bad batch must not end live mode for the rest of the run.
            log.exception("live mode: applying a batch of changes failed")


def lifespan(state: EmulatorState) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """Starlette lifespan: runs live mode's background task while the server is up."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        if state.config.live is not None:
            state.live_task = asyncio.create_task(_live_loop(state), name="emulator-live-mode")
        try:
            yield
        finally:
            task, state.live_task = state.live_task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return run
