"""Workers as real processes on a real Redis: three emulated accounts (seeds 11, 12, 13; a
Brazilian, a Mexican and a Colombian one — three currencies and time zones; each its own
emulator at 50 requests/second, the workers asking 40), two `kommo-analytics worker`
processes, one PostgreSQL warehouse per account. One of the two is killed (SIGKILL) in the
middle of a sync: the other runs that job again (Redis gives it back once the dead worker's
heartbeats are 15 s old), and every account's raw tables equal its emulator's ground truth —
nothing lost, nothing doubled; no emulator answered 429. The three warehouses, consolidated in
BRL, equal the sum of their own reports converted at the given rates.

The small scale (2,000 leads) is the emulator's smallest; each sync takes about 10 s here, most of
it loading and building the model, so the whole test takes about a minute."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import pytest
import tomli_w

from kommo_analytics.automation.queue import JobQueue, connect
from kommo_analytics.emulator.app import create_app
from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.server import serve_in_thread
from kommo_analytics.emulator.state import get_state
from kommo_analytics.service import consolidated
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import parse_database_url
from tests.conftest import _create_database, _drop_database, _postgres
from tests.service.consolidated_builders import direct_report
from tests.sync.harness import NOW, Clock, account, assert_matches_truth

ACCOUNTS = {"alfa": (11, "BR"), "bravo": (12, "MX"), "charlie": (13, "CO")}
REDIS = "redis://127.0.0.1:6379/0"
WORKER = [sys.executable, "-m", "kommo_analytics", "worker", "--threads"]
DEADLINE_SECONDS = 150
# The consolidated check's period: October, at October's rate; "now" is the emulated accounts'
# (25 November 2026), so the open pipeline takes November's rate. The conversion of a period of
# several months, month by month, is checked in tests/service/test_consolidated.py.
START, END = date(2026, 10, 1), date(2026, 10, 31)
AS_OF = datetime.fromtimestamp(NOW, UTC)


class Worker:
    """A `kommo-analytics worker` process and the lines it writes, read as they come."""

    def __init__(self, env: dict[str, str], cwd: Path, threads: int) -> None:
        self.proc = subprocess.Popen(
            [*WORKER, str(threads)],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own group: the kill takes any child with it
        )
        self.lines: list[str] = []
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip())

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(5)


@pytest.fixture
def databases() -> Iterator[str]:
    """The install's DATABASE_URL; each account's warehouse is `<database>_<account>`."""
    with _postgres():
        pass  # skips (or fails) here without a server
    base = f"kommo_test_{uuid.uuid4().hex[:10]}"
    for name in ACCOUNTS:
        _create_database("postgres", f"{base}_{name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{base}"
    finally:
        for name in ACCOUNTS:
            _drop_database("postgres", f"{base}_{name}")


def synced_ok(url: str) -> bool:
    try:
        rows = reader.query(
            parse_database_url(url),
            "SELECT count(*) FROM kommo_raw.sync_runs WHERE status = 'ok'",
        )
    except Exception:  # no table before the first run commits
        return False
    return bool(rows[0][0])


def wait_for(what: str, done: object, deadline: float, workers: list[Worker]) -> None:
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- worker {i}\n" + "\n".join(w.lines) for i, w in enumerate(workers)
            )
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def test_two_workers_sync_three_accounts_and_a_killed_workers_sync_is_redone_by_the_other(
    tmp_path: Path, databases: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"Redis at {REDIS} is not reachable ({exc})")
    queue_name = f"test_{uuid.uuid4().hex[:10]}"  # keys and queue of this run only
    broker_url = f"{REDIS}?queue={queue_name}"
    install = tmp_path / "data"
    emulated = {
        name: account(seed=seed, country=country) for name, (seed, country) in ACCOUNTS.items()
    }

    with ExitStack() as stack:
        register = {}
        for name, acc in emulated.items():
            app = create_app(
                acc.store, EmulatorConfig(rate_limit_per_second=50), clock=Clock(NOW + 60)
            )
            base = stack.enter_context(serve_in_thread(app))
            acc.state = get_state(app)
            register[name] = {"base_url": base, "auth": "token"}
            folder = install / "accounts" / name
            folder.mkdir(parents=True)
            (folder / "access_token").write_text(acc.state.tokens.demo_token)
        (install / "accounts.toml").write_text(tomli_w.dumps({"accounts": register}))

        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KOMMO_", "DATABASE_URL", "BROKER_URL", "LIMITER_URL"))
        }
        env.update(
            DATA_DIR=str(install),
            DATABASE_URL=databases,
            BROKER_URL=broker_url,
            LIMITER_URL=REDIS,
            KOMMO_RATE_LIMIT_PER_SECOND="40",
        )
        # The second runs two jobs at once, so that it takes the killed one back while it
        # still syncs another (the whole test is quicker).
        first, second = Worker(env, tmp_path, 1), Worker(env, tmp_path, 2)
        workers = [first, second]
        queue: JobQueue | None = None
        try:
            queue = connect(broker_url)
            for name in ACCOUNTS:
                queue.send("sync", name)
            deadline = time.monotonic() + DEADLINE_SECONDS

            # The first worker takes a sync: kill it mid-crawl, once it has committed the
            # account's dictionaries and while its streams are still reading.
            def first_committed() -> bool:
                return first.said("sync dictionaries: done")

            wait_for(
                "the first worker to be half-way through a sync", first_committed, deadline, workers
            )
            victim = next(n for n in ACCOUNTS if first.said(f"job sync [{n}]: started"))
            assert not first.said(f"job sync [{victim}]: ok"), "finished before the kill"
            first.kill()

            def all_synced() -> bool:
                return all(
                    synced_ok(f"{databases}_{n}")
                    and (first.said(f"job sync [{n}]: ok") or second.said(f"job sync [{n}]: ok"))
                    for n in ACCOUNTS
                )

            wait_for("every account to be synced", all_synced, deadline, workers)
        finally:
            for worker in workers:
                worker.stop()
            if queue is not None:
                _forget_queue(queue)

        # The killed worker's job was run again by the other, to the end.
        assert second.said(f"job sync [{victim}]: ok"), "\n".join(second.lines)
        assert not any("FAILED" in line for line in first.lines + second.lines)
        for name, acc in emulated.items():
            assert_matches_truth(acc.store, f"{databases}_{name}")
            stats = acc.state.stats
            assert stats["429"] == 0 and stats["blocks"] == 0, (name, stats)
        # Each warehouse holds its own account: its currency and zone as Kommo reported them.
        seen = {
            name: reader.query(
                parse_database_url(f"{databases}_{name}"),
                "SELECT currency, timezone FROM kommo_raw.account",
            )[0]
            for name in ACCOUNTS
        }
        assert seen == {
            "alfa": ("BRL", "America/Sao_Paulo"),
            "bravo": ("MXN", "America/Mexico_City"),
            "charlie": ("COP", "America/Bogota"),
        }

    # The three warehouses consolidated in BRL equal their own reports, each in its own days,
    # the Mexican and Colombian revenue converted at the month's rates given.
    for name in [k for k in os.environ if k.startswith(("KOMMO_", "BROKER_", "LIMITER_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(install))
    monkeypatch.setenv("DATABASE_URL", databases)
    rates = {
        "MXN": {"2026-10": 0.29, "2026-11": 0.3},
        "COP": {"2026-10": 0.0014, "2026-11": 0.0015},
    }
    consolidated.save_rates_text(
        consolidated.install_settings(),
        "month,from_currency,to_currency,rate\n"
        + "".join(f"{m},{c},BRL,{r}\n" for c, by in rates.items() for m, r in by.items()),
        source="test",
    )
    result = consolidated.consolidate(None, start=START, end=END, currency="BRL", now=AS_OF)
    assert result.money is not None, result.missing_rates
    whole = {name: direct_report(name, START, END, AS_OF) for name in ACCOUNTS}
    expected = whole["alfa"].sales.revenue  # type: ignore[union-attr]
    for name, currency in (("bravo", "MXN"), ("charlie", "COP")):
        expected += whole[name].sales.revenue * rates[currency]["2026-10"]  # type: ignore[union-attr]
    assert result.money.revenue == pytest.approx(expected)
    assert expected > whole["alfa"].sales.revenue > 0  # type: ignore[union-attr]
    assert result.counts.leads == sum(r.leads.total for r in whole.values())  # type: ignore[union-attr]
    assert result.counts.won == sum(r.sales.won for r in whole.values())  # type: ignore[union-attr]


def _forget_queue(queue: JobQueue) -> None:
    """Delete this run's keys from the shared Redis (its queue name is their prefix)."""
    client = queue.broker.client  # type: ignore[attr-defined]
    for key in client.scan_iter(f"{queue.queue}:*"):
        client.delete(key)
