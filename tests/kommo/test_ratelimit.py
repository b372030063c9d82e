"""The shared limiter: evenly paced sends, a sliding window over departure times, AIMD on 429."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

import pytest

from kommo_analytics.kommo.ratelimit import RateLimiter, shared_limiter, yielding
from tests.emulator.harness import FakeClock


def most_in_any_window(times: Sequence[float], window: float) -> int:
    """The largest number of send times inside any half-open window of that length."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


class SleepingClock(FakeClock):
    """A fake clock the limiter's sleeps advance: ``acquire`` then runs without real waiting."""

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)


def paced(rate: float = 7, **kwargs: Any) -> tuple[RateLimiter, SleepingClock]:
    clock = SleepingClock(100.0)
    return RateLimiter(rate, clock=clock, sleep=clock.sleep, **kwargs), clock


@pytest.mark.anyio
async def test_sends_are_evenly_spaced_not_bursts() -> None:
    limiter, _clock = paced(7, margin=0.05)
    times = []
    for _ in range(22):
        ticket = await limiter.acquire()
        times.append(ticket.sent_at)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([1.05 / 7] * 21)
    assert limiter.ceiling == pytest.approx(7 / 1.05)
    assert most_in_any_window(times, 1.05) == 7


@pytest.mark.anyio
async def test_eighth_send_never_inside_the_window_whatever_the_pace() -> None:
    # Even with pacing out of the way (a very high rate), the window still holds.
    limiter, _clock = paced(7, margin=0.03)
    limiter.rate = 1e9
    times = [(await limiter.acquire()).sent_at for _ in range(7)]
    assert times == pytest.approx([100.0] * 7)
    assert limiter.delay() == pytest.approx(1.03)
    eighth = await limiter.acquire()
    assert eighth.sent_at == pytest.approx(101.03)
    assert most_in_any_window([*times, eighth.sent_at], 1.03) == 7


@pytest.mark.anyio
async def test_a_send_is_timed_when_it_leaves_not_when_granted() -> None:
    limiter, clock = paced(7, margin=0.0)
    limiter.rate = 1e9
    tickets = [await limiter.acquire(hand_back=True) for _ in range(7)]
    # Held tickets count as leaving now: nobody else may go meanwhile.
    assert limiter.delay() == pytest.approx(1.0)
    clock.advance(0.4)  # the first request sat in the process for 0.4 s before leaving
    limiter.sent(tickets[0])
    assert tickets[0].sent_at == pytest.approx(100.4)
    for ticket in tickets[1:]:
        limiter.sent(ticket)
    # The window is measured from the departures (100.4), not from the grants (100.0).
    assert limiter.delay() == pytest.approx(1.0)
    # A ticket that never left frees its slot.
    clock.advance(1.0)
    spare = await limiter.acquire(hand_back=True)
    limiter.release(spare)
    limiter.sent(spare)  # too late: ignored
    assert spare.sent_at == pytest.approx(101.4)
    assert len(limiter._sends) == 7 and max(limiter._sends) == pytest.approx(100.4)


@pytest.mark.anyio
async def test_a_429_cuts_the_rate_and_successes_win_it_back_gradually() -> None:
    limiter, clock = paced(7, margin=0.1, recovery_successes=20)
    full = limiter.ceiling
    first = await limiter.acquire()
    assert limiter.slow_down(first.sent_at)
    assert limiter.rate == pytest.approx(full / 2)
    # Another 429 of a request sent before the cut is the same overload: no second cut.
    clock.advance(0.01)
    assert not limiter.slow_down(first.sent_at)
    assert limiter.rate == pytest.approx(full / 2)
    # One sent after it is a new one: cut again (never below the floor).
    later = await limiter.acquire()
    assert limiter.slow_down(later.sent_at)
    assert limiter.rate == pytest.approx(full / 4)
    for _ in range(30):
        assert limiter.slow_down()
    assert limiter.rate == pytest.approx(limiter.min_rate)
    # Recovery is additive and slow: a success is a small step, not a reset.
    limiter.rate = full / 2
    limiter.succeeded()
    assert full / 2 < limiter.rate < full / 2 + 0.05 * full
    rates = []
    for _ in range(25):
        limiter.succeeded()
        rates.append(limiter.rate)
    assert rates == sorted(rates) and rates[-1] == pytest.approx(full)
    assert rates.index(full) >= 18  # about twenty successes, as configured
    # The pacing follows the rate.
    limiter.rate = full / 2
    a = (await limiter.acquire()).sent_at
    b = (await limiter.acquire()).sent_at
    assert b - a == pytest.approx(2 / full)


def test_fractional_and_slow_rates() -> None:
    assert RateLimiter(7.9).burst == 7  # the server rounds the limit down too
    slow = RateLimiter(0.5, margin=0.0)
    assert (slow.burst, slow.span, slow.ceiling) == (1, 2.0, 0.5)
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_pause_holds_everyone_and_only_extends() -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(7, clock=clock)
    limiter.pause(2.0)
    assert limiter.delay() == pytest.approx(2.0)
    limiter.pause(0.5)  # a shorter pause never cuts a longer one short
    assert limiter.delay() == pytest.approx(2.0)
    clock.advance(2.0)
    assert limiter.delay() == 0


@pytest.mark.anyio
async def test_concurrent_callers_never_exceed_n_in_any_real_window() -> None:
    limiter = RateLimiter(5, window=0.2, margin=0.01)
    sent: list[float] = []

    async def caller(n: int) -> None:
        for _ in range(n):
            # The instant the limiter recorded for this send. (Reading the clock again here
            # would add whatever delay a busy machine puts between the two reads.)
            sent.append((await limiter.acquire()).sent_at)

    started = time.monotonic()
    await asyncio.gather(*(caller(3) for _ in range(12)))  # 36 sends
    elapsed = time.monotonic() - started
    assert len(sent) == 36
    assert most_in_any_window(sent, 0.2) == 5
    # 36 sends at 5 per 0.21 s need at least 7 full windows (a busy machine only adds to it).
    assert elapsed >= 7 * 0.21


@pytest.mark.anyio
async def test_pause_delays_callers_already_waiting() -> None:
    limiter = RateLimiter(100, window=0.1)
    started = time.monotonic()
    limiter.pause(0.15)
    await asyncio.gather(*(limiter.acquire() for _ in range(4)))
    assert time.monotonic() - started >= 0.15


def test_shared_limiter_is_one_per_rate() -> None:
    assert shared_limiter(7) is shared_limiter(7.0)
    assert shared_limiter(7) is not shared_limiter(6)
    # Each account has a budget of its own.
    a = "https://a.kommo.com"
    assert shared_limiter(7, a) is shared_limiter(7, a)
    assert shared_limiter(7, a) is not shared_limiter(7, "https://b.kommo.com")


@pytest.mark.anyio
async def test_a_late_departure_does_not_push_the_pace_back() -> None:
    # The pace runs from the grants; only the window counts departures.
    limiter, clock = paced(7, margin=0.1)
    step = 1 / limiter.ceiling
    first = await limiter.acquire(hand_back=True)
    clock.advance(step * 0.9)
    limiter.sent(first)  # it left 0.9 of a step after its grant
    assert limiter.delay() == pytest.approx(step * 0.1)


@pytest.mark.anyio
async def test_callers_are_served_in_turn_and_yielding_ones_last() -> None:
    # 20 per second, evenly paced: one slot every 50 ms, so all callers below queue up.
    limiter = RateLimiter(20, margin=0.0)
    granted: list[str] = []

    async def caller(name: str, *, yields: bool = False) -> None:
        if yields:
            with yielding():
                await limiter.acquire()
        else:
            await limiter.acquire()
        granted.append(name)

    await limiter.acquire()  # takes the first slot: everyone after it waits
    async with asyncio.TaskGroup() as group:
        for name in ("ahead-1", "ahead-2"):
            group.create_task(caller(name, yields=True))
            await asyncio.sleep(0.001)  # arrival order
        for name in ("chain-1", "chain-2"):
            group.create_task(caller(name))
            await asyncio.sleep(0.001)
    # The crawls that go a page at a time first, in order of arrival; then the pages asked ahead.
    assert granted == ["chain-1", "chain-2", "ahead-1", "ahead-2"]


@pytest.mark.anyio
async def test_a_caller_that_never_looks_again_loses_its_turn() -> None:
    # A waiting caller whose event loop stopped running it must not hold the others back.
    stuck = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if asyncio.current_task() is frozen:
            await stuck.wait()  # never set: this caller sleeps forever
        await asyncio.sleep(seconds)

    limiter = RateLimiter(20, margin=0.0, sleep=sleep)
    await limiter.acquire()
    frozen = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.001)
    started = time.monotonic()
    await asyncio.wait_for(limiter.acquire(), timeout=2)
    # It waited for the frozen caller's turn to go stale (0.25 s), not forever.
    assert time.monotonic() - started < 1.0
    frozen.cancel()
    with pytest.raises(asyncio.CancelledError):
        await frozen
    assert limiter._queue == []  # a cancelled caller leaves the queue
