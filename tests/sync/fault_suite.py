"""The fault suite: a sync under one kind of trouble, then a clean re-run, then the warehouse
against the emulator's ground truth, counted table by table.

Shared by `benchmarks/reliability.py` (every scenario, every backend, many runs: the table in
docs/reliability.md) and `tests/sync/test_fault_suite.py` (a seeded handful, in CI). A scenario
run goes:

1. a fresh account (its data and its faults seeded by the run's seed) and an empty warehouse;
2. **full**: the faulted sync, then a clean re-run, then the comparison;
3. **incremental**: live changes between syncs, the faulted (incremental) sync, a clean re-run,
   the comparison.

The faulted sync may succeed (it rode the faults out) or stop with the error that scenario
expects (schema drift, a revoked refresh token, a dead database); any other end is a failure of
the run. Either way nothing may be lost or doubled once the clean re-run is done, and the
emulator's IP block must never trigger.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp

from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig, FaultSpec
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.emulator.state import get_state
from kommo_analytics.errors import AuthError, DataDriftError, WarehouseError
from kommo_analytics.kommo.auth import TokenFile
from kommo_analytics.settings import Settings
from kommo_analytics.sync.engine import SyncOptions, SyncResult
from kommo_analytics.sync.runner import run_sync
from kommo_analytics.warehouse.target import parse_database_url
from tests.conftest import mariadb_database, postgres_database
from tests.sync.harness import (
    NOW,
    SYNC_COMMAND,
    Account,
    Clock,
    Gap,
    TickingTransport,
    account,
    duckdb_url,
    oauth_settings,
    rows,
    settings_for,
    sync_env,
    truth_gaps,
)

# The emulator refuses more than this many requests a second per token, and blocks the IP after
# 30 refusals within a minute (Kommo's rule, docs/emulator.md); the client is set to the same
# pace, so a client that overshoots after a fault is caught. Kommo's own 7/s would make each run
# minutes long without testing anything more.
RATE = 40.0
BLOCK_AFTER = 30


# -- transports: faults the emulator's switches do not cover -----------------------------------


class Deadline(httpx.AsyncBaseTransport):
    """The client's timeout, shortened: an in-process transport has no socket to time out on,
    so a response later than `seconds` becomes the `ReadTimeout` the real client would raise."""

    def __init__(self, inner: httpx.AsyncBaseTransport, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.timeouts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            with anyio.fail_after(self.seconds):
                response = await self.inner.handle_async_request(request)
                await response.aread()
                return response
        except TimeoutError:
            self.timeouts += 1
            raise httpx.ReadTimeout("timed out", request=request) from None


# Bodies a broken proxy or a half-deployed Kommo might send with a 200: none is valid as a page.
GARBLED = (
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'{"_page": 1, "_links": {}}',
    b'{"_page": 1, "_embedded": "maintenance"}',
    b"\xff\xfe{\x00",
    b'[{"id": 1}]',
    b"",
)


class Garbling(httpx.AsyncBaseTransport):
    """Replaces the body of a share of successful API answers with one of `GARBLED`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(f"garble-{seed}")
        self.garbled = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code != 200 or not request.url.path.startswith("/api/v4/"):
            return response
        if self.rng.random() >= self.rate:
            return response
        await response.aread()
        self.garbled += 1
        body = GARBLED[self.rng.randrange(len(GARBLED))]
        return httpx.Response(200, content=body, headers={"content-type": "application/hal+json"})


class Drifting(httpx.AsyncBaseTransport):
    """Schema drift: every listed record gains fields nobody declared (which must be ignored),
    and the `change_at`-th page of leads has a field that turned into text (which must stop the
    run before anything of that page is stored)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, change_at: int) -> None:
        self.inner = inner
        self.change_at = change_at
        self.lead_pages = 0
        self.changed = 0
        self.extended = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code != 200 or not request.url.path.startswith("/api/v4/"):
            return response
        body = json.loads(await response.aread())
        embedded = body.get("_embedded") if isinstance(body, dict) else None
        if not isinstance(embedded, dict):
            return response
        for items in embedded.values():
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict):
                    item["is_price_computed"] = False
                    item["ai_summary"] = {"text": "nova coluna", "model": None}
                    self.extended += 1
        lead_list = request.url.path == "/api/v4/leads"
        if lead_list and "only_deleted" not in request.url.params.get("with", ""):
            self.lead_pages += 1
            if self.lead_pages == self.change_at:
                for lead in embedded.get("leads", []):
                    lead["price"] = "R$ 1.200,00"
                self.changed += 1
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(200, json=body, headers=headers)


class Revoking(httpx.AsyncBaseTransport):
    """After `after` requests, an admin disconnects the integration: the refresh token in the
    token file is revoked and every access token expires, so the next renewal is refused."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, app: ASGIApp, tokens: Path, after: int
    ) -> None:
        self.inner = inner
        self.state = get_state(app)
        self.tokens = TokenFile(tokens)
        self.after = after
        self.requests = 0
        self.revoked = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests == self.after:
            pair = self.tokens.read()
            if pair is not None:
                self.revoked = self.state.tokens.revoke(pair.refresh_token)
                self.state.tokens.expire_access_tokens()
        return await self.inner.handle_async_request(request)


# -- a database that dies ------------------------------------------------------------------------


def _kill_sessions(database_url: str) -> int:
    """End every session of the warehouse's database other than this one (PostgreSQL:
    `pg_terminate_backend`; MariaDB: `KILL`); returns how many."""
    target = parse_database_url(database_url)
    name = target.url.rsplit("/", 1)[1].split("?")[0]
    if target.url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True
        ) as con:
            killed = con.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            ).fetchone()
            return int(killed[0]) if killed else 0
    import pymysql

    con = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db IN (%s, %s) AND id <> CONNECTION_ID()",
                [name, f"{name}_staging"],
            )
            killed = 0
            for (session,) in cur.fetchall():
                try:
                    cur.execute(f"KILL {int(session)}")
                    killed += 1
                except pymysql.MySQLError:
                    pass  # it ended by itself meanwhile
            return killed
    finally:
        con.close()


@contextmanager
def database_dies(database_url: str, after: float) -> Iterator[list[int]]:
    """From `after` seconds on, end the warehouse's sessions until some were open to end (the
    sync opens its connections per load): the database died mid-sync. Yields the count."""
    killed = [0]
    stop = threading.Event()

    def killer() -> None:
        if stop.wait(after):
            return
        while not stop.is_set() and killed[0] == 0:
            killed[0] += _kill_sessions(database_url)
            stop.wait(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join(10)


# -- scenarios -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the runs of one scenario on one backend did."""

    runs: int = 0
    requests: int = 0  # API requests the emulator received, clean re-runs included
    retries: int = 0  # as the client counted them (`sync_runs.retries`)
    rate_limited: int = 0  # 429s the emulator sent (bursts and refusals)
    blocked: int = 0  # runs that got the IP blocked
    lost: int = 0
    duplicated: int = 0
    faults_met: int = 0  # the scenario's trouble, as seen: a sanity check that it happened
    problems: list[str] = field(default_factory=list)  # unexpected ends, first of each kind

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.blocked or self.problems)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def gaps(self, gaps: dict[str, Gap], when: str) -> None:
        for name, gap in gaps.items():
            self.lost += gap.lost
            self.duplicated += gap.duplicated
            if gap:
                self.problem(f"{when}: {name} {gap.lost} lost, {gap.duplicated} doubled")


@dataclass
class Context:
    """One run's account, warehouse and work folder."""

    acc: Account
    url: str
    work: Path
    seed: int
    settings: Settings
    tally: Tally

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.acc.app)

    def sync(
        self, options: SyncOptions, transport: httpx.AsyncBaseTransport | None = None
    ) -> SyncResult:
        return run_sync(
            self.settings, options, transport=transport or self.transport(), clock=self.acc.clock
        )


Faulted = Callable[[Context, SyncOptions], SyncResult]
"""Runs the faulted sync and returns its result; raises what the scenario allows to end it."""


@dataclass(frozen=True)
class Scenario:
    name: str
    says: str  # what it simulates, one line for the table's notes
    faults: str = ""  # emulator fault switches during the faulted sync
    run: Faulted | None = None  # a sync of its own (wrapping transports); else a plain sync
    expected: tuple[type[BaseException], ...] = ()  # errors allowed to end the faulted sync
    oauth: bool = False  # needs a refreshable OAuth token instead of a long-lived one
    servers_only: bool = False  # needs a database server (PostgreSQL, MariaDB)


def _deadline(ctx: Context, options: SyncOptions) -> SyncResult:
    transport = Deadline(ctx.transport(), seconds=0.5)
    try:
        return ctx.sync(options, transport)
    finally:
        ctx.tally.faults_met += transport.timeouts


def _garbled(ctx: Context, options: SyncOptions) -> SyncResult:
    transport = Garbling(ctx.transport(), rate=0.06, seed=ctx.seed)
    try:
        return ctx.sync(options, transport)
    finally:
        ctx.tally.faults_met += transport.garbled


def _drift(ctx: Context, options: SyncOptions) -> SyncResult:
    change_at = 1 + random.Random(f"drift-{ctx.seed}-{options.full}").randrange(3)
    transport = Drifting(ctx.transport(), change_at=change_at if options.full else 1)
    try:
        return ctx.sync(options, transport)
    finally:
        ctx.tally.faults_met += transport.changed


def _revoked(ctx: Context, options: SyncOptions) -> SyncResult:
    after = random.Random(f"revoke-{ctx.seed}-{options.full}").randrange(
        5, 60 if options.full else 8
    )
    tokens = ctx.settings.data_dir / "kommo_tokens.json"
    transport = Revoking(ctx.transport(), ctx.acc.app, tokens, after=after)
    try:
        return ctx.sync(options, transport)
    except AuthError:
        # The admin connects the integration again: a new code, new tokens.
        ctx.settings = _authorized(ctx.acc, ctx.work, ctx.url)
        raise
    finally:
        ctx.tally.faults_met += int(transport.revoked)


def _live(ctx: Context, options: SyncOptions) -> SyncResult:
    transport = TickingTransport(ctx.acc.app, ctx.acc, every=6, changes=10)
    try:
        return ctx.sync(options, transport)
    finally:
        ctx.tally.faults_met += sum(transport.applied.values())


def _dies(ctx: Context, options: SyncOptions) -> SyncResult:
    after = random.Random(f"dies-{ctx.seed}-{options.full}").uniform(
        0.3, 4.0 if options.full else 1.5
    )
    with database_dies(ctx.url, after) as killed:
        try:
            return ctx.sync(options)
        finally:
            ctx.tally.faults_met += killed[0]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("429-storm", "bursts of 429s (Kommo overloaded)", "429burst=0.015,429burst_len=4"),
    Scenario("5xx-bursts", "500/502/503/504 answers", "5xx=0.12"),
    Scenario(
        "slow-responses",
        "answers later than the client's timeout",
        "slow=0.06,slow_ms=1.5s",
        run=_deadline,
    ),
    Scenario("dropped-connections", "connections closed mid-body", "drop=0.08"),
    Scenario("truncated-json", "200 bodies cut short", "truncate=0.08"),
    Scenario("malformed-json", "200 bodies that are not a page (HTML, wrong JSON)", run=_garbled),
    Scenario(
        "schema-drift",
        "new fields everywhere, one field turns into text",
        run=_drift,
        expected=(DataDriftError,),
    ),
    Scenario(
        "token-expiry", "access tokens expire mid-run (OAuth)", "expire_tokens_after=25", oauth=True
    ),
    Scenario(
        "revoked-refresh",
        "the integration is disconnected mid-run (OAuth)",
        run=_revoked,
        expected=(AuthError,),
        oauth=True,
    ),
    Scenario("live-changes", "leads change while the crawl pages", run=_live),
    Scenario(
        "database-dies",
        "the warehouse's sessions are killed mid-sync",
        run=_dies,
        expected=(WarehouseError,),
        servers_only=True,
    ),
)
SCENARIO_NAMES = (*(s.name for s in SCENARIOS), "sigkill")


def by_name(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


@contextmanager
def warehouse(backend: str, work: Path) -> Iterator[str]:
    """An empty warehouse on `backend`, dropped afterwards."""
    if backend == "duckdb":
        yield duckdb_url(work)
        return
    make: Callable[[], AbstractContextManager[str]] = (
        postgres_database if backend == "postgres" else mariadb_database
    )
    with make() as url:
        yield url


def _faulted_sync(scenario: Scenario, ctx: Context, options: SyncOptions, phase: str) -> None:
    state = ctx.acc.state
    before = _faults_seen(state.stats)
    state.set_faults(FaultSpec.parse(scenario.faults))
    try:
        if scenario.run is not None:
            scenario.run(ctx, options)
        else:
            ctx.sync(options)
    except scenario.expected:
        pass
    except Exception as exc:  # any other end is what the table reports
        ctx.tally.problem(f"{phase} sync ended with {type(exc).__name__}: {exc}"[:300])
    finally:
        state.set_faults(FaultSpec())
    if scenario.faults:
        ctx.tally.faults_met += _faults_seen(state.stats) - before


def _faults_seen(stats: dict[str, Any]) -> int:
    return int(stats["429_burst"] + stats["5xx"] + stats["dropped"] + stats["truncated"]) + int(
        stats.get("401", 0)
    )


def _clean_rerun(ctx: Context, phase: str) -> None:
    try:
        result = ctx.sync(SyncOptions())
    except Exception as exc:
        ctx.tally.problem(
            f"clean re-run after the {phase} sync failed: {type(exc).__name__}: {exc}"
        )
        return
    if result.status != "ok":
        ctx.tally.problem(f"clean re-run after the {phase} sync: {result.status}")
    ctx.tally.gaps(truth_gaps(ctx.acc.store, ctx.url), phase)


def _authorized(acc: Account, work: Path, url: str) -> Settings:
    """OAuth settings from a fresh authorization code, at the suite's pace (the harness's
    default pace is above the emulator's limit here, and would earn 429s of its own)."""
    settings = asyncio.run(oauth_settings(acc.app, work, url))
    return settings.model_copy(update={"kommo_rate_limit_per_second": RATE})


def run_scenario(
    scenario: Scenario,
    backend: str,
    seed: int,
    tally: Tally,
    modes: tuple[str, ...] = ("full", "incremental"),
) -> None:
    """One run of `scenario` on `backend`: full and incremental, each faulted then re-run clean."""
    config = EmulatorConfig(
        seed=seed, rate_limit_per_second=RATE, block_after_violations=BLOCK_AFTER
    )
    acc = account(seed=seed, config=config, fresh=True)
    with tempfile.TemporaryDirectory(prefix="kommo-faults-") as folder:
        work = Path(folder)
        with warehouse(backend, work) as url:
            if scenario.oauth:
                settings = _authorized(acc, work, url)
            else:
                settings = settings_for("http://kommo.test", acc.state.tokens.demo_token, work,
                                        url, rate=RATE)  # fmt: skip
            ctx = Context(acc, url, work, seed, settings, tally)
            for mode in modes:
                if mode == "incremental":
                    if "full" not in modes:
                        ctx.sync(SyncOptions())  # the warehouse an incremental sync starts from
                    for _ in range(3):
                        acc.clock.now += 900
                        acc.state.live_tick(30)
                    acc.clock.now += 60
                _faulted_sync(scenario, ctx, SyncOptions(full=mode == "full"), mode)
                _clean_rerun(ctx, mode)
            _count(ctx)
    tally.runs += 1


def _count(ctx: Context) -> None:
    stats = ctx.acc.state.stats
    ctx.tally.requests += int(stats["requests"])
    ctx.tally.rate_limited += int(stats["429"])
    if stats["blocks"] or stats["blocked"]:
        ctx.tally.blocked += 1
    target = parse_database_url(ctx.url)
    ((retries,),) = rows(target, f"SELECT sum(retries) FROM {target.qualified('sync_runs')}")
    ctx.tally.retries += int(retries or 0)


# -- SIGKILL at seeded random moments ----------------------------------------------------------


def run_kills(backend: str, seed: int, kills: int, tally: Tally, check_every: int = 4) -> None:
    """`kills` full syncs of one warehouse, each a real process killed with SIGKILL at a seeded
    random moment; after every `check_every` kills (and the last) a clean sync runs to its end
    and the warehouse is compared with the truth."""
    acc = account(seed=seed)
    config = EmulatorConfig(seed=seed, rate_limit_per_second=1000)
    app = create_app(acc.store, config, clock=Clock(NOW + 60))
    state = get_state(app)
    rng = random.Random(f"kill-{backend}-{seed}")
    with tempfile.TemporaryDirectory(prefix="kommo-kills-") as folder:
        work = Path(folder)
        with warehouse(backend, work) as url, serve_in_thread(app) as base:
            env = sync_env(base, state.tokens.demo_token, work, url)
            done = checked = attempts = 0
            # A sync that ends before its kill moment is no kill: try again, within a bound.
            while done < kills and attempts < 3 * kills:
                attempts += 1
                proc = subprocess.Popen([*SYNC_COMMAND, "--full"], env=env, cwd=work,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
                try:
                    proc.wait(timeout=rng.uniform(1.0, 9.0))
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    done += 1
                    tally.faults_met += 1
                else:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    if proc.returncode != 0:
                        tally.problem(f"an unkilled sync failed: {err.strip()[-300:]}")
                if proc.stderr:
                    proc.stderr.close()
                tally.runs += 1
                if done > checked and (done % check_every == 0 or done == kills):
                    checked = done
                    final = subprocess.run(SYNC_COMMAND, env=env, cwd=work, capture_output=True,
                                           text=True, timeout=600)  # fmt: skip
                    if final.returncode != 0:
                        tally.problem(f"the clean re-run failed: {final.stderr.strip()[-300:]}")
                    tally.gaps(truth_gaps(acc.store, url), f"after {done} kills")
            if done < kills:
                tally.problem(f"only {done} of {kills} syncs could be killed")
            target = parse_database_url(url)
            ((retries,),) = rows(
                target, f"SELECT sum(retries) FROM {target.qualified('sync_runs')}"
            )
            tally.retries += int(retries or 0)
    stats = state.stats
    tally.requests += int(stats["requests"])
    tally.rate_limited += int(stats["429"])
    tally.blocked += int(bool(stats["blocks"] or stats["blocked"]))
