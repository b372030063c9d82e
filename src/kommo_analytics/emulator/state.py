"""Everything one running emulator knows, shared by its routes and middleware.

Tests reach it from the ASGI app with :func:`get_state`::

    app = create_app(store, EmulatorConfig(rate_limit_per_second=1000))
    state = get_state(app)
    state.tokens.demo_token            # a long-lived token that works at once
    state.set_faults(FaultSpec.parse("5xx=0.1"))
    state.stats["429_rate"]
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec
from kommo_analytics.emulator.faults import FaultRuntime, Stats
from kommo_analytics.emulator.ratelimit import RateLimiter
from kommo_analytics.emulator.store import AccountStore
from kommo_analytics.emulator.tokens import TokenStore


class Mutator(Protocol):
    """What live mode needs from ``live.LiveMutator``."""

    def tick(self, now: int, changes: int) -> dict[str, int]: ...


def _account_ids(store: AccountStore) -> tuple[int, int]:
    """(account id, admin user id) for the token claims; zeros on an account-less store."""
    try:
        row = store.cursor().execute("SELECT id, current_user_id FROM account LIMIT 1").fetchone()
    except duckdb.Error:
        return 0, 0
    if row is None:
        return 0, 0
    return int(row[0] or 0), int(row[1] or 0)


@dataclass
class EmulatorState:
    store: AccountStore
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    # The clock is injectable so that tests can move time (token expiry, rate windows). It may be
    # replaced after construction: every component reads it through this attribute.
    clock: Callable[[], float] = time.time

    tokens: TokenStore = field(init=False)
    limiter: RateLimiter = field(init=False)
    faults: FaultRuntime = field(init=False)
    counters: Stats = field(init=False)
    # Created on first use from `live.LiveMutator`; tests may set their own beforehand.
    live_mutator: Mutator | None = field(default=None, init=False)
    live_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _live_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        account_id, user_id = _account_ids(self.store)
        self.tokens = TokenStore(
            self.config, lambda: self.clock(), account_id=account_id, user_id=user_id
        )
        self.limiter = RateLimiter(
            self.config.rate_limit_per_second,
            self.config.block_after_violations,
            self.config.block_window_seconds,
        )
        self.faults = FaultRuntime(self.config.seed, self.config.faults)
        self.counters = Stats()

    # -- faults -----------------------------------------------------------------------------

    @property
    def fault_spec(self) -> FaultSpec:
        return self.faults.spec

    def set_faults(self, spec: FaultSpec) -> None:
        """Replace the fault switches from the next request on (request numbering goes on, so
        determinism holds for a given sequence of calls)."""
        self.faults.set_spec(spec)

    # -- stats ------------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot, the same as ``GET /_emulator/stats``."""
        snapshot = self.counters.snapshot()
        snapshot["api_requests"] = self.faults.requests
        snapshot["blocked"] = self.limiter.blocked
        snapshot["faults"] = self.faults.spec.describe()
        return snapshot

    def reset_stats(self) -> None:
        self.counters.reset()

    def unblock(self, ip: str | None = None) -> list[str]:
        return self.limiter.unblock(ip)

    # -- live mode --------------------------------------------------------------------------

    def live_tick(self, changes: int) -> dict[str, int]:
        """Apply ``changes`` live changes now (blocking DuckDB work: call it off the loop)."""
        with self._live_lock:
            if self.live_mutator is None:
                # Imported on first use: most runs never need live mode.
                from kommo_analytics.emulator.live import LiveMutator

                self.live_mutator = LiveMutator(self.store, self.config.seed)
            # Readers take the same lock, so no page is rendered from a half-applied change.
            with self.store.write_lock:
                counts = dict(self.live_mutator.tick(int(self.clock()), changes))
        self.counters.live(counts)
        return counts


_STATES: weakref.WeakKeyDictionary[object, EmulatorState] = weakref.WeakKeyDictionary()


def register(app: object, state: EmulatorState) -> None:
    """Remember which state serves ``app`` (called by ``protocol.wrap``)."""
    _STATES[app] = state


def get_state(app: object) -> EmulatorState:
    """The :class:`EmulatorState` behind an app returned by ``create_app``."""
    try:
        return _STATES[app]
    except (KeyError, TypeError):
        pass
    # A bare Starlette app from `create_app` before wrapping keeps it on `app.state.emulator`.
    found = getattr(getattr(app, "state", None), "emulator", None)
    if isinstance(found, EmulatorState):
        return found
    raise LookupError(f"{app!r} is not an emulator app (use create_app)")
