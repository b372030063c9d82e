"""The one request limiter every Kommo call of a process goes through (OAuth calls included).

Kommo allows 7 requests per second and answers more with 429, then with an IP block
(docs/kommo-api.md §4). The server counts arrivals in a *sliding* one-second window, refused
requests included. The limiter therefore keeps three rules at once:

- **Even pacing.** One send every ``1 / rate`` seconds, never a burst of seven followed by a
  wait: a burst arrives as a burst, and any delay on the way (a busy machine, a server reading
  its queue late) can squeeze eight arrivals into the server's second.
- **A sliding window over departure times.** Never more than ``floor(per_second)`` sends in any
  ``window + margin`` seconds, whatever the pacing rate. A send is timed when it actually leaves:
  the client hands its slot back (:meth:`RateLimiter.sent`) right before the transport sends, and
  a slot granted but not yet sent counts as leaving *now* — a request held up in the process
  between the grant and the socket can never make the next ones look older than they are.
- **Turns.** Callers are served in order of arrival, except that requests marked with
  :func:`yielding` (the pages an events crawl asks for ahead, which could as well go later) let
  every other caller go first: a crawl that can only go a page at a time then never waits behind
  a queue of pages that could wait, and the requests asked for ahead fill the slots it leaves.
- **AIMD on 429.** Each 429 (of a request sent after the last slow-down) halves the pacing rate;
  every success adds a small step back. So a limit that is lower than assumed (another
  integration on the same IP, a stricter account) is found and respected, instead of being hit
  again at full speed right after every pause.

Workers in several processes or machines that serve one account share its budget as well: given a
``gate`` (:class:`~kommo_analytics.kommo.budget.SharedBudget`, pyrate-limiter's Redis bucket),
every granted slot also waits for a slot of the account's shared budget before it is handed out,
and a pause reaches every process through it.

Written by hand: ``aiolimiter`` is a leaky bucket (lets a drained bucket refill and send 2N in the
server's window) and ``pyrate-limiter`` is a sliding-window log with a fixed rate — neither paces,
re-times a send at departure, nor adapts its rate to 429s (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from bisect import insort
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

# The turn class of the requests made in this context (and in the tasks it starts): 0 goes first.
_YIELDING: ContextVar[int] = ContextVar("kommo_analytics_limiter_yielding", default=0)
# How long a caller whose turn it is not looks again when a slot is free but not yet taken (the
# caller whose turn it is has just to wake up).
_RECHECK = 0.002
# A caller this late to look again after its sleep (an event loop stuck in another thread, a
# task that will never run again) loses its turn: it must not hold every other caller back.
_STALE = 0.25


@contextmanager
def yielding() -> Iterator[None]:
    """Requests made inside this block, or by tasks started inside it, let every other caller
    of the limiter go first (among themselves, first come first served)."""
    token = _YIELDING.set(1)
    try:
        yield
    finally:
        _YIELDING.reset(token)


class Gate(Protocol):
    """A budget shared with other processes (kommo/budget.py ``SharedBudget``)."""

    async def take(self) -> int: ...

    def pause(self, seconds: float) -> None: ...


@dataclass
class Ticket:
    """One granted send. ``sent_at`` is when it left (the grant time until :meth:`sent`)."""

    number: int
    sent_at: float
    held: bool  # granted with hand_back: counts as leaving "now" until sent() or release()


class RateLimiter:
    """Paced at ``rate`` sends per second (at most ``ceiling``), with at most ``burst`` sends in
    any ``span`` seconds.

    Loop-agnostic and thread-safe: every check-and-record step holds a plain lock and never
    awaits, so one instance can serve every event loop of a process (see :func:`shared_limiter`).
    """

    def __init__(
        self,
        per_second: float,
        *,
        window: float = 1.0,
        # The difference in delay between two requests on their way to the server that the
        # limiter absorbs (network, a server reading its queue late). Measured in
        # docs/benchmarks.md "Syncing": 0.1 s kept a busy machine free of 429s.
        margin: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        decrease: float = 0.5,
        min_fraction: float = 0.1,
        recovery_successes: int = 60,
        gate: Gate | None = None,
    ) -> None:
        if not per_second > 0 or math.isinf(per_second):
            raise ValueError(f"per_second must be a positive number, got {per_second!r}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, got {decrease!r}")
        self.per_second = per_second
        # The server rounds a fractional limit down ("more than 7" → the 8th is refused).
        self.burst = max(1, math.floor(per_second))
        self.span = (window if per_second >= 1 else window / per_second) + margin
        # Evenly spaced sends at this rate put exactly `burst` sends in any `span`.
        self.ceiling = self.burst / self.span
        self.rate = self.ceiling
        self.min_rate = self.ceiling * min_fraction
        self.decrease = decrease
        # Additive increase: this many successes bring a halved rate back to the ceiling.
        self.step = self.ceiling * (1 - decrease) / max(1, recovery_successes)
        self._clock = clock
        self._sleep = sleep
        self._sends: list[float] = []  # departure times of the last `burst` sends, ascending
        self._held: dict[int, Ticket] = {}
        self._numbers = itertools.count(1)
        self._arrivals = itertools.count(1)
        self._queue: list[tuple[int, int]] = []  # (turn class, arrival) of waiting callers
        self._due: dict[tuple[int, int], float] = {}  # when each waiting caller looks again
        self._next_slot = -math.inf  # the earliest time the pacing lets the next send go
        self._paused_until = -math.inf
        self._slowed_at = -math.inf  # when the rate was last cut
        # How often, and how long, callers waited: whether the limiter or the caller sets the pace.
        self.grants = 0
        self.waits = 0
        self.waited = 0.0
        self.gate = gate
        self.gate_waited = 0.0  # seconds spent waiting for the shared budget, after the grant
        self._lock = threading.Lock()

    # -- deciding -----------------------------------------------------------------------------

    def _delay_locked(self, now: float) -> float:
        wait = max(self._paused_until, self._next_slot) - now
        # Slots granted but not yet sent may leave at any moment: they count as leaving now.
        times = self._sends + [now] * len(self._held)
        if len(times) >= self.burst:
            times.sort()
            wait = max(wait, times[-self.burst] + self.span - now)
        return max(0.0, wait)

    def now(self) -> float:
        """The limiter's clock (the one ``Ticket.sent_at`` is on)."""
        return self._clock()

    def delay(self) -> float:
        """Seconds until a request could be sent (0 when it could go now)."""
        with self._lock:
            return self._delay_locked(self._clock())

    def _record_locked(self, moment: float) -> None:
        insort(self._sends, moment)
        del self._sends[: -self.burst]

    async def acquire(self, *, hand_back: bool = False) -> Ticket:
        """Wait until a request may be sent and take its slot.

        Without ``hand_back`` the send is recorded as leaving now. With it, the caller must call
        :meth:`sent` right before the request leaves (or :meth:`release` if it never does): the
        send is then timed at its real departure.

        With a gate, the slot granted here then waits for a slot of the shared budget, held (it
        counts as leaving now) meanwhile: the shared window is taken right before the send, so a
        slot taken there is never older than its request.
        """
        if self.gate is None:
            return await self._acquire_local(hand_back)
        ticket = await self._acquire_local(True)
        started = self._clock()
        try:
            await self.gate.take()
        except BaseException:
            self.release(ticket)
            raise
        with self._lock:
            self.gate_waited += self._clock() - started
        if not hand_back:
            self.sent(ticket)
        ticket.held = hand_back
        return ticket

    async def _acquire_local(self, hand_back: bool) -> Ticket:
        asked: float | None = None
        turn = (_YIELDING.get(), next(self._arrivals))
        with self._lock:
            insort(self._queue, turn)
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    asked = now if asked is None else asked
                    wait = self._delay_locked(now)
                    if self._first_locked(now) != turn:
                        # Someone else's turn: look again when it has taken the next slot.
                        wait = max(wait, _RECHECK)
                    elif wait <= 0:
                        return self._grant_locked(now, asked, hand_back)
                    self._due[turn] = now + wait
                # Sleepers re-check on waking: a pause() or another caller may have taken the
                # slot.
                await self._sleep(wait)
        finally:
            with self._lock:
                self._queue.remove(turn)
                self._due.pop(turn, None)

    def _first_locked(self, now: float) -> tuple[int, int]:
        """Whose turn it is: the first waiting caller not long overdue to look again."""
        for turn in self._queue:
            if self._due.get(turn, now) >= now - _STALE:
                return turn
        return self._queue[0]

    def _grant_locked(self, now: float, asked: float, hand_back: bool) -> Ticket:
        self.grants += 1
        if now > asked:
            self.waits += 1
            self.waited += now - asked
        # Paced from the grant, not from the departure: a request held up in the process must
        # not push every later slot back. (Letting a late caller's successor catch up half an
        # interval was tried: faster on a busy machine, but it met a 429 per run —
        # docs/benchmarks.md "Syncing".)
        self._next_slot = now + 1.0 / self.rate
        ticket = Ticket(next(self._numbers), now, hand_back)
        if hand_back:
            self._held[ticket.number] = ticket
        else:
            self._record_locked(now)
        return ticket

    def sent(self, ticket: Ticket) -> None:
        """The request of ``ticket`` leaves now: record its departure time."""
        with self._lock:
            if self._held.pop(ticket.number, None) is None:
                return
            now = self._clock()
            ticket.sent_at = max(ticket.sent_at, now)
            self._record_locked(ticket.sent_at)

    def release(self, ticket: Ticket) -> None:
        """The request of ``ticket`` never left (it failed before sending): free its slot."""
        with self._lock:
            self._held.pop(ticket.number, None)

    # -- reacting -----------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Nobody sends before now + ``seconds``. Kommo's 429 has no Retry-After, so a 429 seen by
        one caller has to hold back all of them."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
        if self.gate is not None:
            self.gate.pause(seconds)

    def slow_down(self, sent_at: float | None = None) -> bool:
        """A 429: cut the pacing rate (multiplicatively). A 429 for a request sent before the
        last cut is the overload already reacted to, and changes nothing. True when it cut."""
        with self._lock:
            now = self._clock()
            if sent_at is not None and sent_at <= self._slowed_at:
                return False
            self.rate = max(self.min_rate, self.rate * self.decrease)
            self._slowed_at = now
            return True

    def succeeded(self) -> None:
        """A request was served: win back a small step of rate (additively)."""
        with self._lock:
            self.rate = min(self.ceiling, self.rate + self.step)


_SHARED: dict[tuple[str, float, str | None], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(
    per_second: float, account: str = "", limiter_url: str | None = None
) -> RateLimiter:
    """The process-wide limiter of one account (its base URL) at ``per_second``: every client and
    token refresh of the process that talks to that account shares one window, as the server
    does; another account has a budget of its own. With ``limiter_url`` (a Redis URL: the
    ``LIMITER_URL`` setting) the account's budget is shared with every other process given the
    same URL, too."""
    with _SHARED_LOCK:
        key = (account, float(per_second), limiter_url)
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = RateLimiter(per_second)
            if limiter_url:
                # Imported here: a single-process install never loads the Redis client.
                from kommo_analytics.kommo.budget import SharedBudget

                limiter.gate = SharedBudget(
                    limiter_url, account, burst=limiter.burst, span=limiter.span
                )
            _SHARED[key] = limiter
        return limiter
