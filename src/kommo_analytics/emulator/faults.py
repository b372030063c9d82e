"""Fault injection for API requests, and the emulator's request statistics.

Every API request that passed the block, the rate limit and auth gets an arrival number ``n``.
Its faults are drawn from ``random.Random(seed * 1_000_003 + n)`` in a fixed order, whatever the
rates are, so the same request sequence meets the same faults on every run with the same seed,
and turning one switch on does not move the faults of another.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kommo_analytics.emulator.config import FaultSpec
from kommo_analytics.emulator.http import html, problem

ERROR_STATUSES = (500, 502, 503, 504)
# nginx's own wording for its gateway pages.
_GATEWAY_TITLES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the ``drop`` fault after part of a body was sent.

    Under uvicorn the server closes the connection, so the client sees a truncated response
    (``httpx.RemoteProtocolError``); in-process through ``httpx.ASGITransport`` the client gets
    this very exception. Subclassing httpx's error makes both look the same to a client.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without completing the response")


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every deliberately dropped connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def quiet_dropped_connections() -> None:
    # uvicorn logs "Exception in ASGI application" on this logger; its dictConfig replaces
    # handlers but keeps filters, so installing it once before the server starts is enough.
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one API request."""

    number: int
    delay_seconds: float = 0.0
    burst_429: bool = False
    error_status: int | None = None
    drop_at: float | None = None  # share of the body sent before the connection drops
    truncate_at: float | None = None  # share of the body kept
    expire_tokens: bool = False

    @property
    def buffers_body(self) -> bool:
        return self.drop_at is not None or self.truncate_at is not None


def draw(seed: int, number: int, spec: FaultSpec) -> FaultPlan:
    """The faults of request ``number`` (pure; the burst and token-expiry state live in
    :class:`FaultRuntime`)."""
    rng = random.Random(seed * 1_000_003 + number)
    # Always draw every value, in this order, so that the sequence does not depend on rates.
    jitter = rng.random()
    slow = rng.random() < spec.slow_page_rate
    error = rng.random() < spec.error_rate
    error_status = ERROR_STATUSES[rng.randrange(len(ERROR_STATUSES))]
    burst = rng.random() < spec.burst_429_rate
    drop = rng.random() < spec.drop_rate
    drop_at = rng.random()
    truncate = rng.random() < spec.truncate_rate
    truncate_at = rng.random()
    delay_ms = spec.latency_ms + jitter * spec.jitter_ms + (spec.slow_page_ms if slow else 0.0)
    return FaultPlan(
        number=number,
        delay_seconds=delay_ms / 1000.0,
        burst_429=burst,
        error_status=error_status if error else None,
        drop_at=drop_at if drop else None,
        truncate_at=truncate_at if truncate else None,
    )


class FaultRuntime:
    """The current fault switches plus the state that spans requests (bursts, token expiry).
    Thread-safe; the spec may be replaced while the emulator runs."""

    def __init__(self, seed: int, spec: FaultSpec) -> None:
        self._seed = seed
        self._spec = spec
        self._lock = threading.Lock()
        self._number = 0
        self._burst_left = 0
        self._spec_since = 0  # request number when the spec was set: expiry counts from there

    @property
    def spec(self) -> FaultSpec:
        with self._lock:
            return self._spec

    @property
    def requests(self) -> int:
        with self._lock:
            return self._number

    def set_spec(self, spec: FaultSpec) -> None:
        with self._lock:
            self._spec = spec
            self._burst_left = 0
            self._spec_since = self._number

    def next(self) -> FaultPlan:
        with self._lock:
            self._number += 1
            n = self._number
            spec = self._spec
            plan = draw(self._seed, n, spec)
            expire = False
            every = spec.expire_tokens_after
            if every is not None and every > 0:
                # Periodic, so that a long run has to refresh again and again.
                expire = (n - self._spec_since) % every == 0
            if self._burst_left > 0:
                # A burst in progress overrides every other draw: the server is saturated.
                self._burst_left -= 1
                return FaultPlan(n, plan.delay_seconds, burst_429=True, expire_tokens=expire)
            if plan.error_status is not None:
                return FaultPlan(
                    n, plan.delay_seconds, error_status=plan.error_status, expire_tokens=expire
                )
            if plan.burst_429:
                self._burst_left = max(0, spec.burst_429_length - 1)
                return FaultPlan(n, plan.delay_seconds, burst_429=True, expire_tokens=expire)
            return FaultPlan(
                n,
                plan.delay_seconds,
                drop_at=plan.drop_at,
                truncate_at=None if plan.drop_at is not None else plan.truncate_at,
                expire_tokens=expire,
            )


def error_response(status: int) -> Response:
    """A 500 comes from the PHP application (problem JSON); 502/503/504 from nginx (HTML)."""
    # UNCERTAIN (docs/kommo-api.md §4, §6): Kommo's 5xx bodies are not documented; these are the
    # likeliest shapes for an nginx-fronted PHP API.
    if status == 500:
        return problem(500, "Internal Server Error", "Internal Server Error")
    return html(status, _GATEWAY_TITLES[status])


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode("ascii"))]


async def serve(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    plan: FaultPlan,
    on_event: Callable[[str], None],
) -> None:
    """Answer one API request under ``plan``. ``on_event`` hears ``429_burst``, ``dropped``
    and ``truncated`` before the matching response is sent."""
    if plan.delay_seconds > 0:
        await anyio.sleep(plan.delay_seconds)
    if plan.burst_429:
        on_event("429_burst")
        await html(429, "Too Many Requests")(scope, receive, send)
        return
    if plan.error_status is not None:
        await error_response(plan.error_status)(scope, receive, send)
        return
    if not plan.buffers_body:
        await app(scope, receive, send)
        return

    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    if start is None:
        return
    body = b"".join(chunks)
    headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))

    if plan.drop_at is not None and len(body) >= 2:
        # A body-less response (204) cannot be cut mid-body, so the drop only hits bodies.
        on_event("dropped")
        await send({**start, "headers": _with_length(headers, len(body))})
        cut = 1 + int(plan.drop_at * (len(body) - 1))
        await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
        raise DroppedConnection()

    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if (
        plan.truncate_at is not None
        and start["status"] == 200
        and b"json" in content_type
        and len(body) >= 2
    ):
        on_event("truncated")
        body = body[: 1 + int(plan.truncate_at * (len(body) - 1))]
    await send({**start, "headers": _with_length(headers, len(body))})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Stats:
    """Request counters, shared by the middleware (event loop) and readers in other threads."""

    _MAX_PREFIXES = 200

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._by_prefix: dict[str, Counter[str]] = {}
        self._live: Counter[str] = Counter()
        self._live_ticks = 0

    def reset(self) -> None:
        with self._lock:
            self._totals = Counter()
            self._by_status = Counter()
            self._by_prefix = {}
            self._live = Counter()
            self._live_ticks = 0

    @staticmethod
    def prefix(path: str) -> str:
        """`/api/v4/leads/pipelines/7` → `/api/v4/leads`; `/oauth2/access_token` → `/oauth2`."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v4":
            return "/" + "/".join(parts[:3])
        return "/" + parts[0] if parts else "/"

    def _prefix_counter(self, path: str) -> Counter[str]:
        # Caller holds the lock. Scanners hitting random paths must not grow this forever.
        key = self.prefix(path)
        counter = self._by_prefix.get(key)
        if counter is None:
            if len(self._by_prefix) >= self._MAX_PREFIXES:
                key = "(other)"
            counter = self._by_prefix.setdefault(key, Counter())
        return counter

    def request(self, path: str) -> None:
        with self._lock:
            self._totals["requests"] += 1
            self._prefix_counter(path)["requests"] += 1

    def response(self, path: str, status: int) -> None:
        with self._lock:
            self._by_status[status] += 1
            self._prefix_counter(path)[str(status)] += 1
            if 200 <= status < 300:
                self._totals["2xx"] += 1
            if status in (204, 401, 403, 429):
                self._totals[str(status)] += 1
            if status >= 500:
                self._totals["5xx"] += 1

    def event(self, path: str, name: str) -> None:
        with self._lock:
            self._totals[name] += 1
            self._prefix_counter(path)[name] += 1

    def live(self, counts: dict[str, int]) -> None:
        with self._lock:
            self._live_ticks += 1
            self._live.update(counts)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            names = (
                "requests", "2xx", "204", "401", "403", "429", "429_rate", "429_burst",
                "5xx", "dropped", "truncated", "violations", "blocks",
            )  # fmt: skip
            result: dict[str, Any] = {name: self._totals[name] for name in names}
            result["by_status"] = {str(k): v for k, v in sorted(self._by_status.items())}
            result["by_prefix"] = {k: dict(v) for k, v in sorted(self._by_prefix.items())}
            result["live"] = {"ticks": self._live_ticks, "changes": dict(self._live)}
            return result
