"""Kommo's request limit: a sliding one-second window, 429s, and the sticky 403 block.

Rules (docs/kommo-api.md §4):

* More than ``limit`` requests within any sliding one-second window for one key → 429.
* Rejected requests are recorded in the window too. A client that keeps hammering while
  limited therefore stays limited until it actually slows down; merely waiting for the 429s to
  "age out" while still sending does not help. This is the stricter reading of "429 is the
  warning before 403" and it is what makes an un-throttled client end up blocked.
* Every rate 429 is a violation of the client's IP; ``block_after`` violations within
  ``block_window`` seconds block that IP: every later request gets 403, however slow, until
  the block is lifted (``POST /_emulator/unblock``; on the real service, by support).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    LIMIT = "limit"  # 429, a violation
    BLOCK = "block"  # 429 that was the last straw: the IP is blocked from now on


class RateLimiter:
    """Thread-safe; ``now`` is passed in so that the emulator's (injectable) clock drives it."""

    def __init__(
        self,
        limit_per_second: float,
        block_after: int | None,
        block_window: float,
    ) -> None:
        # "more than 7 requests within a second" → the 8th is refused; a non-integer limit
        # rounds down, and an infinite or non-positive one switches the limit off.
        self._allowed = (
            max(1, math.floor(limit_per_second))
            if math.isfinite(limit_per_second) and limit_per_second > 0
            else None
        )
        self._block_after = block_after
        self._block_window = block_window
        self._lock = threading.Lock()
        # Per key, only the newest `allowed` arrival times matter: the request is refused when
        # the oldest of them is less than a second old. This bounds memory under hammering.
        self._windows: dict[str, deque[float]] = {}
        self._violations: dict[str, deque[float]] = {}
        self._blocked: set[str] = set()
        self._last_now = -math.inf

    @property
    def allowed_per_second(self) -> int | None:
        return self._allowed

    def is_blocked(self, ip: str) -> bool:
        with self._lock:
            return ip in self._blocked

    @property
    def blocked(self) -> list[str]:
        with self._lock:
            return sorted(self._blocked)

    def block(self, ip: str) -> None:
        with self._lock:
            self._blocked.add(ip)

    def unblock(self, ip: str | None = None) -> list[str]:
        """Lift the block of one IP (or of all); forgets their violations. Returns who was
        unblocked."""
        with self._lock:
            targets = sorted(self._blocked) if ip is None else [ip] if ip in self._blocked else []
            for target in targets:
                self._blocked.discard(target)
            if ip is None:
                self._violations.clear()
            else:
                self._violations.pop(ip, None)
            return targets

    def hit(self, key: str, ip: str, now: float) -> Verdict:
        """Record one request for ``key`` (token or IP) from ``ip`` and judge it."""
        if self._allowed is None:
            return Verdict.ALLOW
        with self._lock:
            # The wall clock can step backwards; never let the window run backwards with it.
            now = max(now, self._last_now)
            self._last_now = now
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) > 10_000:
                    self._forget_idle(now)
                window = self._windows[key] = deque(maxlen=self._allowed)
            limited = len(window) == self._allowed and window[0] > now - 1.0
            # UNCERTAIN (docs/kommo-api.md §4): whether Kommo counts refused requests is unknown; we
            # do, so a client that ignores 429s stays limited and soon earns the 403 block.
            window.append(now)
            if not limited:
                return Verdict.ALLOW
            return self._violation(ip, now)

    def _violation(self, ip: str, now: float) -> Verdict:
        # Caller holds the lock.
        if self._block_after is None:
            return Verdict.LIMIT
        seen = self._violations.setdefault(ip, deque())
        seen.append(now)
        while seen and seen[0] <= now - self._block_window:
            seen.popleft()
        if len(seen) >= self._block_after:
            self._blocked.add(ip)
            return Verdict.BLOCK
        return Verdict.LIMIT

    def _forget_idle(self, now: float) -> None:
        # Keys whose newest request is over a second old cannot affect any future verdict.
        idle = [k for k, w in self._windows.items() if not w or w[-1] <= now - 1.0]
        for key in idle:
            del self._windows[key]
