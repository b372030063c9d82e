"""Jobs on a queue: `serve` puts the schedule's jobs on it for every account of the install, and
`kommo-analytics worker` processes run them (docs/operations.md, "Workers").

Why it is built this way:

- **Dramatiq** over Celery and arq: retries with backoff, a dead-letter queue and acks after
  the job (a killed worker's job goes back to the queue) come built in, on Redis and RabbitMQ
  alike; it is small. arq serves Redis only.
- **One actor per job of** :data:`automation.jobs.DEFAULT_JOBS`, each taking the account's name:
  a job is the same function `serve` runs, with the account's settings
  (:func:`settings.using_account`). No job logic lives here.
- **Retries**: a failing job is tried again :data:`MAX_RETRIES` times with a growing pause; after
  the last attempt Dramatiq moves the message to its dead-letter queue, and this module writes
  it on the account's dead-letter list (``service/dead_letters.py``), which Data health shows.
- **One sync per account at a time** across workers is the warehouse's writer lock (a
  PostgreSQL advisory lock, ``sync/lock.py``): a sync that finds it taken did not fail — an
  incremental one is skipped (the next runs soon), a full one goes back on the queue for later.
- **A killed worker**: Redis notices a worker is gone when it stops sending heartbeats for
  :data:`HEARTBEAT_TIMEOUT_MS` and a later queue command runs the maintenance that puts its jobs
  back (:data:`MAINTENANCE_CHANCE`: about one command in ten does, and an idle worker asks
  about once a second), so the job starts again on another worker within about half a minute;
  RabbitMQ gives it back as soon as the dead worker's connection drops. The sync starts again
  from the account's watermarks: what the killed one committed stays, the rest is read again.
- **Time limits**: Dramatiq stops a job after 10 minutes by default; a first sync of a large
  account takes hours, so syncs get :data:`SYNC_TIME_LIMIT_MS`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.middleware import CurrentMessage

from kommo_analytics.automation.jobs import (
    DEFAULT_JOBS,
    JobContext,
    JobFunction,
    JobOutcome,
    JobSkipped,
)
from kommo_analytics.automation.serve import signal_name
from kommo_analytics.errors import BrokerError, ConfigError, KommoAnalyticsError
from kommo_analytics.settings import Settings, load_settings, using_account
from kommo_analytics.text.i18n import t

LOG_LOCALE: Final = "en"
LOGGER_NAME: Final = "kommo_analytics.worker"
# The queue's name, and on Redis the prefix of its keys. `?queue=name` on BROKER_URL picks
# another, so several installs (or test runs) can share one broker.
DEFAULT_QUEUE: Final = "kommo_analytics"
SYNC_JOBS: Final = frozenset({"sync", "full_sync"})

MAX_RETRIES: Final = 3
MIN_BACKOFF_MS: Final = 30_000  # then about 1 and 2 minutes: a server restart, a network blip
MAX_BACKOFF_MS: Final = 10 * 60_000
SYNC_TIME_LIMIT_MS: Final = 24 * 3600_000
JOB_TIME_LIMIT_MS: Final = 30 * 60_000
# A full sync that finds the account's writer busy waits this long before it asks again, at
# most BUSY_TRIES times (an hour): a full sync cannot be dropped like an incremental one.
BUSY_DELAY_MS: Final = 60_000
BUSY_TRIES: Final = 60
HEARTBEAT_TIMEOUT_MS: Final = 15_000
MAINTENANCE_CHANCE: Final = 100_000  # per million queue commands
PING_TIMEOUT_SECONDS: Final = 5


@dataclass(frozen=True)
class BrokerAddress:
    """BROKER_URL taken apart: which broker, its URL as the client library takes it (without our
    ``queue`` parameter), the queue's name, and the URL to print (no password)."""

    kind: str  # "redis" or "rabbitmq"
    url: str = field(repr=False)
    queue: str
    display: str


def parse_broker_url(url: str) -> BrokerAddress:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    kinds = {"redis": "redis", "rediss": "redis", "amqp": "rabbitmq", "amqps": "rabbitmq"}
    if scheme not in kinds:
        raise ConfigError(
            f"BROKER_URL must be a Redis or RabbitMQ address, not {scheme or 'this'}: "
            f"{_without_password(url)}",
            hint="use redis://host:6379/0 or amqp://user:password@host:5672/ (or leave BROKER_URL "
            "empty to run every job inside `kommo-analytics serve`)",
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    queue = next((v for k, v in query if k == "queue"), "") or DEFAULT_QUEUE
    if not queue.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(
            f"the queue name {queue!r} in BROKER_URL is not a plain name",
            hint="use letters, digits, - and _ only, e.g. ?queue=agency_a",
        )
    rest = urlencode([(k, v) for k, v in query if k != "queue"])
    clean = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return BrokerAddress(kinds[scheme], clean, queue, _without_password(clean))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    netloc = user + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def make_broker(address: BrokerAddress) -> dramatiq.Broker:
    """The broker of ``address``, with the middleware the jobs need; nothing is connected yet."""
    broker: dramatiq.Broker
    if address.kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=address.url,
            namespace=address.queue,
            heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=MAINTENANCE_CHANCE,
            socket_connect_timeout=PING_TIMEOUT_SECONDS,
        )
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=address.url)
    broker.add_middleware(CurrentMessage())
    return broker


def check_broker(broker: dramatiq.Broker, address: BrokerAddress) -> None:
    """BrokerError, saying what to do, when the broker does not answer."""
    try:
        if address.kind == "redis":
            broker.client.ping()  # type: ignore[attr-defined]
        else:
            import pika  # type: ignore[import-untyped]

            params = pika.URLParameters(address.url)
            params.socket_timeout = PING_TIMEOUT_SECONDS
            params.connection_attempts = 1
            pika.BlockingConnection(params).close()
    except Exception as exc:  # every driver has its own errors; the message names the cause
        raise BrokerError(
            f"the job queue's broker at {address.display} does not answer "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'})",
            hint="start Redis or RabbitMQ there, or correct BROKER_URL (or empty it to run every "
            "job inside `kommo-analytics serve`)",
        ) from None


@dataclass(frozen=True)
class Policy:
    """How hard the workers try (tests make it faster)."""

    max_retries: int = MAX_RETRIES
    min_backoff_ms: int = MIN_BACKOFF_MS
    max_backoff_ms: int = MAX_BACKOFF_MS
    sync_time_limit_ms: int = SYNC_TIME_LIMIT_MS
    time_limit_ms: int = JOB_TIME_LIMIT_MS
    busy_delay_ms: int = BUSY_DELAY_MS
    busy_tries: int = BUSY_TRIES


def _account_settings(account: str) -> Settings:
    with using_account(account):
        return load_settings()


def _record_dead_letter(settings: Settings, letter: Any) -> None:
    from kommo_analytics.service.dead_letters import record

    record(settings, letter)


def _dead_letter(message_id: str, account: str, job: str, error: str, attempts: int) -> Any:
    from kommo_analytics.service.dead_letters import DeadLetter

    return DeadLetter(message_id, account, job, error, datetime.now(UTC), attempts)


@dataclass
class JobQueue:
    """The actors of the job table on one broker: :meth:`send` puts a job on the queue (serve),
    and a :class:`dramatiq.Worker` on the same broker runs them (worker)."""

    broker: dramatiq.Broker
    queue: str = DEFAULT_QUEUE
    jobs: Mapping[str, JobFunction] = field(default_factory=lambda: DEFAULT_JOBS)
    policy: Policy = field(default_factory=Policy)
    settings_for: Callable[[str], Settings] = _account_settings
    record: Callable[[Settings, Any], None] = _record_dead_letter
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("kommo_analytics.jobs"))
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.actors: dict[str, dramatiq.Actor[..., None]] = {}
        for name in self.jobs:
            limit = (
                self.policy.sync_time_limit_ms if name in SYNC_JOBS else self.policy.time_limit_ms
            )
            self.actors[name] = dramatiq.actor(
                actor_name=name,
                queue_name=self.queue,
                broker=self.broker,
                max_retries=self.policy.max_retries,
                min_backoff=self.policy.min_backoff_ms,
                max_backoff=self.policy.max_backoff_ms,
                time_limit=limit,
            )(self._body(name))

    def send(
        self,
        job: str,
        account: str,
        *,
        then_if_ok: Sequence[str] = (),
        then: Sequence[str] = (),
        delay_ms: int | None = None,
        busy: int = 0,
    ) -> None:
        """Put ``job`` for ``account`` on the queue; the follow-ups are put on it when it ends
        (``then_if_ok`` only after a success), as `serve` runs them in-process."""
        actor = self.actors.get(job)
        if actor is None:
            raise KommoAnalyticsError(
                f"the job {job!r} does not exist", hint="a programming error: report it"
            )
        actor.send_with_options(
            args=(account,),
            kwargs={"then_if_ok": list(then_if_ok), "then": list(then), "busy": busy},
            delay=delay_ms,
        )

    def _body(self, name: str) -> Callable[..., None]:
        def run(
            account: str, then_if_ok: Sequence[str] = (), then: Sequence[str] = (), busy: int = 0
        ) -> None:
            self._run(name, account, tuple(then_if_ok), tuple(then), busy)

        run.__name__ = name
        return run

    def _run(
        self, name: str, account: str, then_if_ok: tuple[str, ...], then: tuple[str, ...], busy: int
    ) -> None:
        label = f"{name} [{account}]"
        message = CurrentMessage.get_current_message()
        retries = int(message.options.get("retries", 0)) if message is not None else 0
        self.log.info(t("serve.log.job.started", LOG_LOCALE, job=label))
        started = time.monotonic()
        settings: Settings | None = None

        def took() -> str:
            return f"{time.monotonic() - started:.1f}"

        try:
            settings = self.settings_for(account)
            outcome = self.jobs[name](JobContext(settings, log=self.log, stopping=self.stopping))
            if not isinstance(outcome, JobOutcome):
                raise KommoAnalyticsError(
                    f"the job returned {outcome!r}, not an outcome",
                    hint="a programming error: report it",
                )
        except JobSkipped as exc:
            if name == "full_sync" and busy < self.policy.busy_tries:
                # The daily reconciliation must not be lost to a sync that happened to be
                # running: it asks again later, as a new message (not a retry: nothing failed).
                self.send(
                    name,
                    account,
                    then_if_ok=then_if_ok,
                    then=then,
                    delay_ms=self.policy.busy_delay_ms,
                    busy=busy + 1,
                )
                seconds = self.policy.busy_delay_ms // 1000
                self.log.info(t("worker.log.busy", LOG_LOCALE, job=label, seconds=seconds))
                return
            values = {"job": label, "seconds": took(), "detail": exc.one_line()}
            self.log.info(t("serve.log.job.skipped", LOG_LOCALE, **values))
            return
        except BaseException as exc:  # also the time limit and the worker's shutdown (Interrupt)
            detail = exc.one_line() if isinstance(exc, KommoAnalyticsError) else repr(exc)
            values = {"job": label, "seconds": took(), "detail": detail}
            self.log.error(t("serve.log.job.failed", LOG_LOCALE, **values))
            if retries >= self.policy.max_retries and message is not None:
                self._give_up(message.message_id, account, name, detail, retries + 1, settings)
                self._follow(account, then)  # "the sync failed" is news for the alerts
            raise
        status = outcome.level
        values = {"job": label, "seconds": took(), "detail": outcome.summary}
        level = logging.WARNING if status == "warning" else logging.INFO
        self.log.log(level, t(f"serve.log.job.{status}", LOG_LOCALE, **values))
        self._follow(account, (*then_if_ok, *then))

    def _follow(self, account: str, names: Sequence[str]) -> None:
        for follow in names:
            try:
                self.send(follow, account)
            except Exception:  # the job itself ran; a follow-up that cannot be queued is logged
                self.log.exception("could not queue %s for %s", follow, account)

    def _give_up(
        self,
        message_id: str,
        account: str,
        job: str,
        detail: str,
        attempts: int,
        settings: Settings | None,
    ) -> None:
        label = f"{job} [{account}]"
        self.log.error(
            t("worker.log.dead", LOG_LOCALE, job=label, attempts=attempts, detail=detail)
        )
        letter = _dead_letter(message_id, account, job, detail, attempts)
        try:
            self.record(settings or self.settings_for(account), letter)
        except Exception as exc:  # the warehouse may be what failed; the log keeps the letter
            self.log.error(
                t("worker.log.dead_unrecorded", LOG_LOCALE, job=label, error=_one_line(exc))
            )


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KommoAnalyticsError):
        return exc.one_line()
    return repr(exc)


# -- the worker process -----------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """`kommo-analytics worker`: a Dramatiq worker in this process until SIGTERM or SIGINT."""

    queue: JobQueue
    threads: int
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(LOGGER_NAME))

    def __post_init__(self) -> None:
        self._signals = 0

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        self._signals += 1
        if self._signals > 1:
            # Asked twice: stop now. The running jobs go back on the queue (the broker never
            # got their acks) and a sync cut short resumes where it stopped.
            self.log.warning(t("serve.log.stop.now", LOG_LOCALE))
            os._exit(1)
        self.log.info(t("worker.log.stop.asked", LOG_LOCALE, signal=signal_name(signum)))
        self.queue.stopping.set()

    def run_until_stopped(self) -> int:
        worker = dramatiq.Worker(
            self.queue.broker, queues={self.queue.queue}, worker_threads=self.threads
        )
        # One message per thread: a busy worker must not hold jobs another could run now.
        worker.queue_prefetch = self.threads
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self.request_stop)
        try:
            worker.start()
            while not self.queue.stopping.wait(0.2):
                pass
        finally:
            # Waits for the running jobs; messages fetched but not started go back at once.
            worker.stop()
            self.queue.broker.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.log.info(t("worker.log.stopped", LOG_LOCALE))
        return 0


def connect(url: str, **options: Any) -> JobQueue:
    """The job queue of BROKER_URL ``url``, its broker checked to answer (BrokerError if not)."""
    address = parse_broker_url(url)
    broker = make_broker(address)
    check_broker(broker, address)
    return JobQueue(broker, address.queue, **options)
