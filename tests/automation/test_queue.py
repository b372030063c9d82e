"""The job queue's actors on Dramatiq's in-memory broker: retries end on the dead-letter list
(written to the account's real PostgreSQL warehouse), a sync that finds the account's writer
busy is skipped or, if full, asked again later, and never dead-lettered; BROKER_URL parsing; a
job and its follow-up through the machine's real RabbitMQ. The workers as real processes on a
real Redis are in test_queue_workers.py."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage
from pydantic import SecretStr

from kommo_analytics.automation import jobs
from kommo_analytics.automation.jobs import JobContext, JobOutcome
from kommo_analytics.automation.queue import JobQueue, Policy, connect, parse_broker_url
from kommo_analytics.errors import BrokerError, ConfigError, SyncError
from kommo_analytics.service import dead_letters
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse.target import parse_database_url

FAST = Policy(max_retries=2, min_backoff_ms=10, max_backoff_ms=20, busy_delay_ms=30, busy_tries=2)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, Lines]]:
    logger = logging.getLogger("test.queue")
    handler = Lines()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def account_settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        kommo_base_url="http://127.0.0.1:9",  # never asked: the jobs stop before any request
        kommo_access_token=SecretStr("token"),
        data_dir=tmp_path / "data",
        database_url=url,
    )


def recording(ran: list[tuple[str, str]], *names: str) -> dict[str, jobs.JobFunction]:
    """Jobs of these names that note (job, the account's folder name) in ``ran`` and succeed."""

    def job(name: str) -> jobs.JobFunction:
        def run(ctx: JobContext) -> JobOutcome:
            ran.append((name, ctx.settings.data_dir.name))
            return JobOutcome(f"{name} done")

        return run

    return {name: job(name) for name in names}


def run_all(queue: JobQueue, send: list[tuple[str, str]]) -> StubBroker:
    broker = queue.broker
    assert isinstance(broker, StubBroker)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        for job, account in send:
            queue.send(job, account)
        broker.join(queue.queue, timeout=20_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    return broker


def stub_broker() -> StubBroker:
    broker = StubBroker()
    broker.add_middleware(CurrentMessage())
    return broker


def test_a_job_that_keeps_failing_is_tried_again_then_lands_once_on_the_dead_letter_list(
    tmp_path: Path, postgres_url: str, log: tuple[logging.Logger, Lines]
) -> None:
    attempts: list[str] = []
    alerts: list[str] = []

    def broken(ctx: JobContext) -> JobOutcome:
        attempts.append(ctx.settings.account_name)
        raise SyncError("Kommo answered 502 three times", hint="try again later")

    def alert(_ctx: JobContext) -> JobOutcome:
        alerts.append("ran")
        return JobOutcome("alerts: 1 triggers evaluated")

    settings = account_settings(tmp_path, postgres_url)
    queue = JobQueue(
        stub_broker(),
        "test",
        jobs={"sync": broken, "alerts": alert},
        policy=FAST,
        settings_for=lambda _name: settings,
        log=log[0],
    )
    broker = queue.broker
    assert isinstance(broker, StubBroker)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        queue.send("sync", "acme", then=("alerts",))
        broker.join("test", timeout=20_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()

    # The first attempt and max_retries=2 more, then Dramatiq's own dead-letter queue.
    assert len(attempts) == 3
    assert len(broker.dead_letters) == 1
    # The follow-up ran once, after the last attempt: "the sync failed" is an alert.
    assert alerts == ["ran"]
    letters = dead_letters.dead_letters(parse_database_url(postgres_url))
    assert [(d.account, d.job, d.attempts) for d in letters] == [("acme", "sync", 3)]
    assert letters[0].error == "Kommo answered 502 three times — try again later"
    assert letters[0].id == broker.dead_letters[0].message_id
    assert letters[0].failed_at.tzinfo is not None
    assert any("given up after 3 attempts" in line for line in log[1].lines)
    # An admin dismisses it: the list is empty again, and a second removal finds nothing.
    target = parse_database_url(postgres_url)
    assert dead_letters.remove(target, letters[0].id) is True
    assert dead_letters.dead_letters(target) == []
    assert dead_letters.remove(target, letters[0].id) is False


def test_a_sync_that_finds_the_accounts_writer_busy_is_skipped_and_never_dead_lettered(
    tmp_path: Path, postgres_url: str, log: tuple[logging.Logger, Lines]
) -> None:
    settings = account_settings(tmp_path, postgres_url)
    queue = JobQueue(
        stub_broker(),
        "test",
        jobs=jobs.DEFAULT_JOBS,
        policy=FAST,
        settings_for=lambda _name: settings,
        log=log[0],
    )
    # Another worker's sync of this account: the database's lock (and the file lock) held.
    with writer_lock(parse_database_url(postgres_url), settings.data_dir):
        broker = run_all(queue, [("sync", "acme"), ("full_sync", "acme")])
    assert broker.dead_letters == []
    lines = log[1].lines
    # The incremental sync: skipped at once, logged so (not as a failure).
    assert any(line.startswith("job sync [acme]: did not run") for line in lines), lines
    # The full sync: back on the queue busy_tries=2 times, then it gives up its turn.
    assert sum("job full_sync [acme]: another writer" in line for line in lines) == 2, lines
    assert any(line.startswith("job full_sync [acme]: did not run") for line in lines), lines
    assert not any("FAILED" in line for line in lines), lines
    assert dead_letters.dead_letters(parse_database_url(postgres_url)) == []


def test_broker_urls_name_their_broker_and_queue_and_hide_the_password() -> None:
    redis = parse_broker_url("redis://:s3cret@127.0.0.1:6379/2?queue=agency_a")
    assert (redis.kind, redis.queue, redis.url) == (
        "redis",
        "agency_a",
        "redis://:s3cret@127.0.0.1:6379/2",
    )
    assert "s3cret" not in redis.display
    rabbit = parse_broker_url("amqp://guest:guest@127.0.0.1:5672/")
    assert (rabbit.kind, rabbit.queue) == ("rabbitmq", "kommo_analytics")
    assert rabbit.display == "amqp://guest:***@127.0.0.1:5672/"
    with pytest.raises(ConfigError, match="Redis or RabbitMQ"):
        parse_broker_url("postgresql://127.0.0.1/kommo")
    with pytest.raises(ConfigError, match="not a plain name"):
        parse_broker_url("redis://127.0.0.1:6379/0?queue=a b")


def test_serve_puts_each_planned_job_on_the_queue_for_every_account_or_runs_each_in_turn(
    tmp_path: Path, log: tuple[logging.Logger, Lines]
) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from kommo_analytics.automation import serve

    planned = serve.Planned("sync", IntervalTrigger(seconds=60), then=("alerts",))
    queued: list[tuple[str, str, tuple[str, ...]]] = []
    context = JobContext(Settings(data_dir=tmp_path), log=log[0])
    with_broker = serve.Runner(
        {},
        context,
        log[0],
        accounts=lambda: ["alfa", "bravo"],
        enqueue=lambda account, p: queued.append((account, p.name, p.then)),
    )
    with_broker.run_planned(planned)
    # Queued, follow-ups and all, for each account; nothing ran here.
    assert queued == [("alfa", "sync", ("alerts",)), ("bravo", "sync", ("alerts",))]
    assert with_broker.history == [("sync", "queued"), ("sync", "queued")]

    ran: list[tuple[str, str]] = []
    in_turn = serve.Runner(
        recording(ran, "sync", "alerts"),
        context,
        log[0],
        accounts=lambda: ["alfa", "bravo"],
        context_for=lambda name: JobContext(Settings(data_dir=tmp_path / name), log=log[0]),
    )
    in_turn.run_planned(planned, only=["bravo"])  # a catch-up for the account that missed it
    in_turn.run_planned(planned)
    assert ran == [
        ("sync", "bravo"),
        ("alerts", "bravo"),
        ("sync", "alfa"),
        ("alerts", "alfa"),
        ("sync", "bravo"),
        ("alerts", "bravo"),
    ]
    assert any(line.startswith("job sync [alfa]: ok") for line in log[1].lines)


def test_a_job_and_its_follow_up_go_through_the_real_rabbitmq_to_a_worker(
    tmp_path: Path, log: tuple[logging.Logger, Lines]
) -> None:
    """BROKER_URL may name RabbitMQ as well as Redis: a job put on the machine's RabbitMQ is run
    by a worker on it for its account, then its follow-up; the queue (this test's own) is
    deleted afterwards."""
    name = f"test_{uuid.uuid4().hex[:10]}"
    ran: list[tuple[str, str]] = []
    try:
        queue = connect(
            f"amqp://guest:guest@127.0.0.1:5672/?queue={name}",
            jobs=recording(ran, "health", "alerts"),
            settings_for=lambda account: Settings(data_dir=tmp_path / account),
            log=log[0],
        )
    except BrokerError as exc:  # pragma: no cover - RabbitMQ runs on every machine here
        pytest.fail(f"this test needs RabbitMQ at 127.0.0.1:5672: {exc}")
    worker = dramatiq.Worker(queue.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        queue.send("health", "acme", then=("alerts",))
        queue.broker.join(name, timeout=20_000)
        worker.join()
        assert ran == [("health", "acme"), ("alerts", "acme")]
        assert any(line.startswith("job health [acme]: ok") for line in log[1].lines)
    finally:
        worker.stop()
        channel = queue.broker.channel  # type: ignore[attr-defined]
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(name + suffix)
        queue.broker.close()
