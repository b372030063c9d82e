"""One request budget per account shared by processes (kommo/budget.py), on the real Redis.

Each test uses keys of its own (a unique prefix, or an account address no other test uses). The
budget is Kommo's 7 sends per 1.1 s (the 1 s window plus the limiter's 0.1 s margin).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from pyrate_limiter import RateItem

from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.budget import SharedBudget
from kommo_analytics.kommo.ratelimit import RateLimiter, shared_limiter
from tests.readiness import free_port, wait_for_http

REDIS_URL = "redis://127.0.0.1:6379/0"
BURST, SPAN = 7, 1.1
SPAN_MS = 1100


@pytest.fixture(scope="module", autouse=True)
def _redis_up() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:  # pragma: no cover - the machine's Redis is a given here
        pytest.fail(f"these tests need Redis at {REDIS_URL}: {exc}")


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def budget(prefix: str, account: str = "https://acme.kommo.com") -> SharedBudget:
    return SharedBudget(REDIS_URL, account, burst=BURST, span=SPAN, prefix=prefix)


def assert_within_budget(stamps: list[int]) -> None:
    """No `span` holds more than `burst` slots: the slot `burst` places later is more than a
    span after each one (the window's bounds are inclusive); and any two slots are more than
    1100 // 7 = 157 ms apart, whoever took them. Both hold exactly, whatever order the callers'
    stamps reached Redis in (kommo/budget.py counts slots stamped after a new one too)."""
    ordered = sorted(stamps)
    tight = [
        (ordered[i], ordered[i + BURST])
        for i in range(len(ordered) - BURST)
        if ordered[i + BURST] - ordered[i] <= SPAN_MS
    ]
    assert not tight, f"{BURST + 1} slots within {SPAN_MS} ms: {tight[:3]}"
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert min(gaps) > SPAN_MS // BURST, gaps


async def take(gate: SharedBudget, count: int) -> list[int]:
    return [await gate.take() for _ in range(count)]


@pytest.mark.anyio
async def test_two_processes_of_one_account_share_one_budget(prefix: str) -> None:
    """Two independent budgets (each its own Redis connection and lock, as two processes have),
    three callers each: 18 slots are never more than 7 in 1.1 s, and the budget is used — the
    18 take at least two full spans (7 + 7 + 4) and not much more."""
    first, second = budget(prefix), budget(prefix)
    started = time.monotonic()
    results = await asyncio.gather(*(take(gate, 3) for gate in (first, second) for _ in range(3)))
    elapsed = time.monotonic() - started
    stamps = [stamp for result in results for stamp in result]
    assert len(stamps) == 18
    assert_within_budget(stamps)
    assert 2 * SPAN - 0.05 < elapsed < 2 * SPAN + 1.0


@pytest.mark.anyio
async def test_a_slot_stamped_late_still_counts_the_slots_stamped_after_it(prefix: str) -> None:
    """A caller reads its clock, then is held up (a busy machine) while others take slots: its
    stamp is older than theirs when it reaches Redis. It must count them: seven slots paced
    0..942 ms, then one stamped 100 ms before the first is refused (admitted, eight slots would
    sit within 1042 ms — what a loaded CI machine once showed)."""
    gate = budget(prefix)
    stamps = await take(gate, BURST)
    assert gate._bucket is not None
    late = RateItem(gate.bucket_key, stamps[0] - 100)
    assert gate._bucket.put(late) is False
    assert gate._bucket.waiting(late) > 0
    # And a slot stamped after them all is judged as before: paced, then the window.
    now = RateItem(gate.bucket_key, stamps[-1] + 1)
    assert gate._bucket.put(now) is False


@pytest.mark.anyio
async def test_two_accounts_have_budgets_of_their_own(prefix: str) -> None:
    """Seven slots each for two accounts, side by side: each account's seven are paced over
    6 × 157 ms ≈ 0.94 s, and both finish then (one shared budget would need 13 gaps, > 2 s);
    the eighth of one waits for its window, 1.1 s after its first."""
    acme, globex = (
        budget(prefix, "https://acme.kommo.com"),
        budget(prefix, "https://globex.kommo.com"),
    )
    started = time.monotonic()
    firsts = await asyncio.gather(take(acme, BURST), take(globex, BURST))
    assert time.monotonic() - started < 1.5
    eighth = await acme.take()
    assert eighth - firsts[0][0] > SPAN_MS


@pytest.mark.anyio
async def test_a_pause_in_one_process_holds_back_the_other(prefix: str) -> None:
    """A 429 seen by one process pauses every process of the account, and only that account."""
    budget(prefix).pause(0.6)  # outside an event loop: set at once
    started = time.monotonic()
    await budget(prefix, "https://other.kommo.com").take()
    assert time.monotonic() - started < 0.3
    await budget(prefix).take()
    assert time.monotonic() - started > 0.5
    # A shorter pause does not cut a longer one short.
    budget(prefix).pause(0.8)
    budget(prefix).pause(0.1)
    started = time.monotonic()
    await budget(prefix).take()
    assert time.monotonic() - started > 0.6


@pytest.mark.anyio
async def test_an_unreachable_redis_stops_the_request_naming_it_without_its_password() -> None:
    url = f"redis://worker:s3cret@127.0.0.1:{free_port()}/1"
    limiter = RateLimiter(7, gate=SharedBudget(url, "https://acme.kommo.com", burst=7, span=1.1))
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        await limiter.acquire(hand_back=True)
    assert time.monotonic() - started < 3
    error = raised.value
    assert f"redis://worker@127.0.0.1:{url.rsplit(':', 1)[1]}" in error.message
    assert "s3cret" not in error.one_line()
    assert "LIMITER_URL" in error.hint
    # The slot granted in-process was handed back: the next caller is not held up by it.
    assert limiter.delay() < 1 / limiter.ceiling + 0.01
    assert not limiter._held


def test_a_url_that_is_not_redis_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a Redis URL"):
        SharedBudget("amqp://guest:guest@127.0.0.1:5672/", "https://a.kommo.com", burst=7, span=1.1)


def test_shared_limiter_gets_a_gate_only_with_a_limiter_url() -> None:
    account = f"https://{uuid.uuid4().hex[:8]}.kommo.com"
    assert shared_limiter(7, account).gate is None
    gated = shared_limiter(7, account, REDIS_URL)
    assert isinstance(gated.gate, SharedBudget)
    assert [(rate.limit, rate.interval) for rate in gated.gate.rates] == [(1, 157), (7, 1100)]
    assert shared_limiter(7, account, REDIS_URL) is gated


# -- real processes -----------------------------------------------------------------------------

TAKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from kommo_analytics.kommo.budget import SharedBudget

    gate = SharedBudget(sys.argv[1], "https://acme.kommo.com", burst=7, span=1.1, prefix=sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()

    async def main():
        return await asyncio.gather(*(gate.take() for _ in range(int(sys.argv[3]))))

    print(json.dumps(asyncio.run(main())), flush=True)
    """
)


def start_together(commands: list[list[str]], env: dict[str, str]) -> list[str]:
    """Start the processes, let them all get ready (imports take a while), then say go to all
    at once; their last output lines."""
    procs = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=30)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs), outputs
    return [output.strip().splitlines()[-1] for output in outputs]


def test_two_real_processes_share_one_budget(prefix: str) -> None:
    """Two processes asking for 8 slots each at once: 16 slots, never 8 within 1.1 s."""
    command = [sys.executable, "-c", TAKER, REDIS_URL, prefix, "8"]
    lines = start_together([command, command], dict(os.environ))
    stamps = [stamp for line in lines for stamp in json.loads(line)]
    assert len(stamps) == 16
    assert_within_budget(stamps)


# -- the real client against the real emulator at 7 req/s ---------------------------------------

HAMMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from kommo_analytics.kommo.client import client_from_settings
    from kommo_analytics.settings import load_settings

    client = client_from_settings(load_settings())
    print("ready", flush=True)
    sys.stdin.readline()

    async def main():
        deadline = time.monotonic() + float(sys.argv[1])

        async def caller():
            while time.monotonic() < deadline:
                await client.get_json("/account")

        await asyncio.gather(*(caller() for _ in range(4)))
        await client.aclose()

    asyncio.run(main())
    print(json.dumps({"requests": client.stats.requests, "429": client.stats.rate_limited}))
    """
)
TOKEN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
HAMMER_SECONDS = 3.0


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`kommo-analytics emulator --rate-limit 7`, never blocking (so that the run without the
    shared budget shows its 429s instead of ending on a 403)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kommo_analytics", "emulator", "--port", str(port),
             "--seed", "17", "--rate-limit", "7", "--block-after", "0"],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/_emulator/health", proc, log_path.read_text)
        match = TOKEN.search(log_path.read_text())
        assert match, log_path.read_text()
        yield base, match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def hammer(emulator: tuple[str, str], tmp_path: Path, limiter_url: str | None) -> dict[str, int]:
    """Two processes, four callers each, through the real client for 3 s; the emulator's
    counts of what it served and refused."""
    base, token = emulator
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KOMMO_", "LIMITER_", "BROKER_"))
    }
    env.update(
        KOMMO_BASE_URL=base,
        KOMMO_ACCESS_TOKEN=token,
        KOMMO_RATE_LIMIT_PER_SECOND="7",
        DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"duckdb:///{tmp_path / 'kommo.duckdb'}",
    )
    if limiter_url:
        env["LIMITER_URL"] = limiter_url
    time.sleep(1.1)  # the emulator's window forgets the previous test's requests
    httpx.post(f"{base}/_emulator/stats/reset", timeout=10).raise_for_status()
    command = [sys.executable, "-c", HAMMER, str(HAMMER_SECONDS)]
    lines = start_together([command, command], env)
    clients = [json.loads(line) for line in lines]
    stats = httpx.get(f"{base}/_emulator/stats", timeout=10).json()
    return {
        "sent": sum(c["requests"] for c in clients),
        "client_429": sum(c["429"] for c in clients),
        "429": stats["429_rate"],
    }


def test_two_processes_through_the_shared_budget_never_see_a_429(
    emulator: tuple[str, str], tmp_path: Path
) -> None:
    """Each process alone would go at 7 per 1.1 s; together, through the shared budget, they
    still do, and the emulator (7 per sliding second) refuses none. They use the budget: over
    3 s at least 3 × 6.4 × 0.8 ≈ 15 requests."""
    counts = hammer(emulator, tmp_path, REDIS_URL)
    assert counts["429"] == 0 and counts["client_429"] == 0, counts
    assert counts["sent"] >= 15, counts


def test_without_the_shared_budget_two_processes_go_over(
    emulator: tuple[str, str], tmp_path: Path
) -> None:
    """The same two processes, each with only its own limiter: together twice the limit, so the
    emulator answers 429s (what makes the test above mean something)."""
    counts = hammer(emulator, tmp_path, None)
    assert counts["429"] > 0, counts
