"""One request budget per Kommo account, shared by every process that talks to it.

Workers on several machines may serve the same account; Kommo counts their requests together
(docs/kommo-api.md §4). Each process keeps its own :class:`~kommo_analytics.kommo.ratelimit.
RateLimiter` (pacing, turns, departure times, AIMD), and before each send it also takes a slot
here: a sliding-window log in Redis — pyrate-limiter's ``RedisBucket``, whose check-and-insert is
one Lua script (counting slots stamped after the new one too, see ``_PUT_SCRIPT``), so two
processes can never both take the last slot — with the account's
``floor(rate)`` sends per ``window + margin``, the in-process limiter's own span, and sends paced
evenly (one per span / floor(rate)), as the in-process limiter paces them.

A 429 seen by one process pauses them all: the pause is a Redis key whose time to live is the
pause left, consulted before every slot. Times to live are counted by Redis, so the machines'
clocks do not have to agree for the pause; the bucket's timestamps are each process's wall clock
(pyrate-limiter's choice), so machines sharing a budget need their clocks in sync (NTP) to well
within the margin.

The Redis calls are short blocking ones made in a worker thread (``asyncio.to_thread``), never on
the event loop, and a wait is an ``asyncio.sleep`` of the time the bucket says, never a poll: one
client works from every event loop and thread of the process, as the in-process limiter does.
When Redis cannot be reached the request is not sent: going on unlimited could push the account
over its limit, which Kommo answers with 429s and then an IP block.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import redis
from pyrate_limiter import Rate, RateItem, RedisBucket
from pyrate_limiter.buckets.redis_bucket import LuaScript
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from kommo_analytics.errors import ConfigError

log = logging.getLogger(__name__)

KEY_PREFIX = "kommo-analytics"
# Old entries are dropped from the log every this many slots (pyrate-limiter's `leak`): the
# window only counts recent ones, this keeps the sorted set small.
_LEAK_EVERY = 64
# A shorter pause never cuts a longer one short: set only when it ends later than the one set.
_PAUSE_SCRIPT = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return left
"""
LIMITER_HINT = (
    "start Redis there, or fix LIMITER_URL (it defaults to BROKER_URL when that is a Redis one); "
    "no request is sent without it, as the workers serving this account could together go over "
    "Kommo's limit"
)

# pyrate-limiter's script counts a window's slots up to the new slot's stamp. A stamp is read
# before the script runs, so a caller held up in between (a busy machine, a slow link) arrives
# with a stamp older than slots taken meanwhile, and those would not be counted: eight slots in
# 1.1 s. Counting every slot from the window's start on, later stamps included, keeps the bound
# whatever the order of arrival; the late caller waits and tries again with a fresh stamp.
_ORDERED = "redis.call('ZCOUNT', bucket, window_start, now)"
_PUT_SCRIPT = LuaScript.PUT_ITEM.replace(
    _ORDERED, "redis.call('ZCOUNT', bucket, window_start, '+inf')"
)
if _PUT_SCRIPT == LuaScript.PUT_ITEM:  # pragma: no cover - the pin on pyrate-limiter holds it
    raise ImportError("pyrate-limiter's Redis script changed: review kommo/budget.py against it")


class _Bucket(RedisBucket):
    """pyrate-limiter's Redis bucket with its script counting late-arriving stamps too."""

    @classmethod
    def load(cls, rates: list[Rate], client: redis.Redis, key: str) -> _Bucket:
        return cls(rates, client, key, client.script_load(_PUT_SCRIPT))

    def now(self) -> int:
        # The library's own clock (wall time in ms), typed.
        return time.time_ns() // 1_000_000


def display_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def account_key(account: str) -> str:
    """The account's part of the Redis keys: its base URL, hashed (no address in Redis)."""
    return hashlib.sha256(account.rstrip("/").lower().encode()).hexdigest()[:16]


class SharedBudget:
    """At most ``burst`` sends in any ``span`` seconds for one account, across processes."""

    def __init__(
        self, url: str, account: str, *, burst: int, span: float, prefix: str = KEY_PREFIX
    ) -> None:
        self.url = display_url(url)
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=2,
                socket_timeout=5,
                # A dropped connection is tried again a few times within a second; a Redis that
                # stays away is said, not waited for.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
        except ValueError as exc:
            raise ConfigError(
                f"LIMITER_URL {self.url!r} is not a Redis URL ({exc})",
                hint="use redis://host:6379/1 (or rediss:// for TLS)",
            ) from None
        # pyrate-limiter counts whole milliseconds; rounding up keeps the window at least `span`.
        self.rate = Rate(burst, math.ceil(span * 1000))
        # Even pacing across processes too: one send per span/burst, the second rate of the same
        # bucket (rounded down, as pyrate-limiter wants the tighter rate first). Without it,
        # two workers fill the window in half its time and then wait, a burst that any delay on
        # the way squeezes into the server's second (docs/benchmarks.md "Syncing").
        self.rates = [self.rate]
        if burst > 1:
            self.rates.insert(0, Rate(1, self.rate.interval // burst))
        key = account_key(account)
        self.bucket_key = f"{prefix}:budget:{key}"
        self.pause_key = f"{prefix}:paused:{key}"
        self._pause_script = self._redis.register_script(_PAUSE_SCRIPT)
        self._bucket: _Bucket | None = None
        self._taken = 0
        # The bucket records its last verdict on itself: one put-and-read at a time per process.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedBudget({self.url!r}, {self.bucket_key!r}, {self.rate})"

    def _unreachable(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"cannot reach the shared request budget at {self.url}: {exc}", hint=LIMITER_HINT
        )

    # -- in a worker thread -------------------------------------------------------------------

    def _try(self) -> tuple[float, int | None]:
        """One attempt: (0, the slot's timestamp in ms) when taken, else (seconds to wait,
        None)."""
        with self._lock:
            if self._bucket is None:
                self._bucket = _Bucket.load(self.rates, self._redis, self.bucket_key)
            bucket = self._bucket
            paused = int(self._redis.pttl(self.pause_key))
            if paused > 0:
                return paused / 1000, None
            item = RateItem(self.bucket_key, bucket.now())
            try:
                admitted = bucket.put(item)
            except NoScriptError:
                # Redis restarted and forgot the bucket's script: load it again and retry.
                self._bucket = None
                return 0.0, None
            assert isinstance(admitted, bool)  # a sync client: no awaitables
            if admitted:
                self._taken += 1
                if self._taken % _LEAK_EVERY == 0:
                    bucket.leak(item.timestamp)
                # An account nobody syncs any more leaves nothing behind.
                self._redis.pexpire(self.bucket_key, 2 * self.rate.interval)
                return 0.0, item.timestamp
            wait = bucket.waiting(item)
            assert isinstance(wait, int)
            return max(wait, 1) / 1000, None

    def _pause_now(self, milliseconds: int) -> None:
        try:
            self._pause_script(keys=[self.pause_key], args=[milliseconds])
        except redis.RedisError as exc:
            # This process pauses anyway, and its next request says Redis is gone.
            log.warning("could not pause the other workers through %s: %s", self.url, exc)

    # -- on the event loop --------------------------------------------------------------------

    async def take(self) -> int:
        """Wait until the account's budget has room and take a slot; returns the slot's
        timestamp (wall clock, ms) as the bucket recorded it."""
        while True:
            try:
                wait, stamp = await asyncio.to_thread(self._try)
            except redis.RedisError as exc:
                raise self._unreachable(exc) from exc
            if stamp is not None:
                return stamp
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """No process of this account takes a slot before now + ``seconds`` (a 429)."""
        milliseconds = max(1, math.ceil(seconds * 1000))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._pause_now(milliseconds)
            return
        loop.run_in_executor(None, self._pause_now, milliseconds)

    def close(self) -> None:
        self._redis.close()
