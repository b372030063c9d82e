"""The one request limiter every Kommo call of a process goes through (OAuth calls included).

Kommo allows 7 requests per second and answers more with 429, then with an IP block
(docs/kommo-api.md §4). The server counts arrivals in a *sliding* one-second window, refused
requests included, so the limiter keeps the send times of the last N requests and lets a new one go
only when the oldest of them is more than a window (plus a safety margin for network jitter) old.

Written by hand rather than taken from ``aiolimiter``: that is a leaky bucket, which lets a full
bucket drain and refill within one second and so sends up to 2N requests inside a window the
server measures — exactly what earns the 429s and the block. A sliding window over send times
never can.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``floor(per_second)`` sends in any ``window + margin`` seconds (for a rate below
    one per second: one send per ``window / per_second + margin``).

    Loop-agnostic and thread-safe: the check-and-record step holds a plain lock and never awaits,
    so one instance can serve every event loop of a process (see :func:`shared_limiter`).
    """

    def __init__(
        self,
        per_second: float,
        *,
        window: float = 1.0,
        # Measured here: with 0.03 s a busy sync (loads in a thread, pages parsed on the loop) got
        # an occasional 429, because a send recorded at t may leave the process a little later
        # while the next one leaves at once. 0.1 s costs ~9 % of the peak rate and removed them.
        margin: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not per_second > 0 or math.isinf(per_second):
            raise ValueError(f"per_second must be a positive number, got {per_second!r}")
        self.per_second = per_second
        # The server rounds a fractional limit down ("more than 7" → the 8th is refused).
        self.burst = max(1, math.floor(per_second))
        self.span = (window if per_second >= 1 else window / per_second) + margin
        self._clock = clock
        self._sends: deque[float] = deque(maxlen=self.burst)
        self._paused_until = -math.inf
        self._lock = threading.Lock()

    def _delay_locked(self, now: float) -> float:
        wait = self._paused_until - now
        if len(self._sends) == self.burst:
            wait = max(wait, self._sends[0] + self.span - now)
        return max(0.0, wait)

    def delay(self) -> float:
        """Seconds until a request could be sent (0 when it could go now)."""
        with self._lock:
            return self._delay_locked(self._clock())

    async def acquire(self) -> None:
        """Wait until a request may be sent, and record it as sent now."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay_locked(now)
                if wait <= 0:
                    self._sends.append(now)
                    return
            # Sleepers re-check on waking: a pause() or another caller may have taken the slot.
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Nobody sends before now + ``seconds``. Kommo's 429 has no Retry-After, so a 429 seen by
        one caller has to hold back all of them."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


_SHARED: dict[float, RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(per_second: float) -> RateLimiter:
    """The process-wide limiter for ``per_second``: every client and token refresh of the process
    that uses the same rate shares one window, as the server does."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(per_second)
        if limiter is None:
            limiter = _SHARED[per_second] = RateLimiter(per_second)
        return limiter
