"""The shared limiter: a sliding window over send times, never a bucket that bursts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from kommo_analytics.kommo.ratelimit import RateLimiter, shared_limiter
from tests.emulator.harness import FakeClock


def most_in_any_window(times: Sequence[float], window: float) -> int:
    """The largest number of send times inside any half-open window of that length."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


@pytest.mark.anyio
async def test_window_opens_only_when_the_oldest_send_is_a_window_and_margin_old() -> None:
    clock = FakeClock(100.0)
    limiter = RateLimiter(7, margin=0.03, clock=clock)
    for _ in range(7):
        assert limiter.delay() == 0
        await limiter.acquire()  # returns at once: the fake clock never moves by itself
    assert limiter.delay() == pytest.approx(1.03)
    clock.advance(0.5)
    assert limiter.delay() == pytest.approx(0.53)
    clock.advance(0.53)
    assert limiter.delay() == 0
    await limiter.acquire()
    # The window slid by one send only: the other six of the first burst still count.
    assert limiter.delay() == 0
    for _ in range(6):
        await limiter.acquire()
    assert limiter.delay() == pytest.approx(1.03)


@pytest.mark.anyio
async def test_a_bucket_refill_cannot_double_the_burst() -> None:
    # A leaky bucket that drained during an idle second would let another full burst go right
    # after the first one; the sliding window does not.
    clock = FakeClock(0.0)
    limiter = RateLimiter(5, margin=0.03, clock=clock)
    clock.advance(10)  # long idle
    for _ in range(5):
        await limiter.acquire()
    clock.advance(0.9)
    assert limiter.delay() == pytest.approx(0.13)


def test_fractional_and_slow_rates() -> None:
    assert RateLimiter(7.9).burst == 7  # the server rounds the limit down too
    slow = RateLimiter(0.5, margin=0.0)
    assert (slow.burst, slow.span) == (1, 2.0)
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
            await limiter.acquire()
            # The instant the limiter recorded for this send: acquire() records it and returns
            # without yielding, so nothing else ran in between. (Reading the clock again here
            # would add whatever delay a busy machine puts between the two reads.)
            sent.append(limiter._sends[-1])

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
