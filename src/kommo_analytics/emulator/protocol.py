"""The protocol layer in front of every route: block, rate limit, auth, faults, statistics.

Per request, in this order:

1. ``/_emulator/*`` control routes bypass everything (and are not counted).
2. A blocked client IP gets nginx's HTML 403, on every request, until unblocked.
3. The rate limit (``ratelimit.py``), keyed by the Bearer token, or by the IP when there is
   none; the OAuth endpoint counts too. Over the limit → HTML 429 without ``Retry-After``.
4. ``/api/v4/*`` needs ``Authorization: Bearer <token>`` → else 401 problem JSON.
5. Faults (``faults.py``) for ``/api/v4/*`` requests that got this far.
6. The app.

A pure ASGI middleware rather than ``BaseHTTPMiddleware``: the drop fault must be able to stop
a response half-way, and bodies must stream through untouched otherwise.
"""

from __future__ import annotations

from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommo_analytics.emulator import faults
from kommo_analytics.emulator.http import html, problem
from kommo_analytics.emulator.ratelimit import Verdict
from kommo_analytics.emulator.state import EmulatorState, register
from kommo_analytics.emulator.tokens import HINT_REVOKED, TokenStatus
from kommo_analytics.kommo.entities import API_PREFIX

CONTROL_PREFIX = "/_emulator"


def _bearer(scope: Scope) -> tuple[str | None, str | None]:
    """(token, why there is none) from the Authorization header."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                return None, "Authorization header is not a Bearer token"
            return token, None
    return None, "Authorization header is missing"


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class _Exchange:
    """Wraps ``send`` to count the response status of one request."""

    def __init__(self, send: Send, state: EmulatorState, path: str) -> None:
        self._send = send
        self._state = state
        self._path = path
        self._counted = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            # Like nginx in front of Kommo, every response says the server's time; the sync
            # bounds its windows by it rather than by the client's clock.
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
            headers.append((b"date", formatdate(self._state.clock(), usegmt=True).encode()))
            message = {**message, "headers": headers}
            if not self._counted:
                self._counted = True
                self._state.counters.response(self._path, int(message["status"]))
        await self._send(message)

    def event(self, name: str) -> None:
        if name == "dropped":
            # The 200 header of a dropped response never reaches the client as a response.
            self._counted = True
        self._state.counters.event(self._path, name)


class ProtocolMiddleware:
    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.emulator_state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == CONTROL_PREFIX or path.startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return

        state = self.emulator_state
        state.counters.request(path)
        exchange = _Exchange(send, state, path)
        ip = _client_ip(scope)

        # UNCERTAIN (docs/kommo-api.md §4): Kommo ties the block to the caller's IP; we block the
        # IP.
        if state.limiter.is_blocked(ip):
            await html(403, "Forbidden")(scope, receive, exchange)
            return

        token, missing_reason = _bearer(scope)
        # UNCERTAIN (docs/kommo-api.md §4, §12 item 2): the scope of the 7 rps limit is unknown; we
        # count per token (per integration) and per IP for token-less calls such as OAuth.
        key = f"token:{token}" if token else f"ip:{ip}"
        verdict = state.limiter.hit(key, ip, state.clock())
        if verdict is not Verdict.ALLOW:
            exchange.event("429_rate")
            exchange.event("violations")
            if verdict is Verdict.BLOCK:
                exchange.event("blocks")
            await html(429, "Too Many Requests")(scope, receive, exchange)
            return

        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            await self.app(scope, receive, exchange)
            return

        # UNCERTAIN (docs/kommo-api.md §2.2, §6): Kommo's exact 401 body for API calls is not
        # documented; we send problem JSON titled "Unauthorized" with the reason as detail, and
        # league's "Token has been revoked" hint for revoked tokens.
        if token is None:
            await problem(401, "Unauthorized", missing_reason or "Unauthorized")(
                scope, receive, exchange
            )
            return
        status = state.tokens.check_access(token)
        if status is not TokenStatus.VALID:
            extra = {"hint": HINT_REVOKED} if status is TokenStatus.REVOKED else {}
            await problem(401, "Unauthorized", status.value, **extra)(scope, receive, exchange)
            return

        plan = state.faults.next()
        if plan.expire_tokens:
            # This request already passed auth and is served; the next ones need a refresh.
            state.tokens.expire_access_tokens()
        await faults.serve(self.app, scope, receive, exchange, plan, exchange.event)


def wrap(app: ASGIApp, state: EmulatorState) -> ASGIApp:
    """Put the protocol layer in front of ``app``; ``get_state`` finds ``state`` from the result."""
    middleware = ProtocolMiddleware(app, state)
    register(middleware, state)
    faults.quiet_dropped_connections()
    return middleware
