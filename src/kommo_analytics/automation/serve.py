"""`kommo-analytics serve`: one long-running process — the dashboard as a child process, and a
scheduler running the jobs of :mod:`automation.jobs` one at a time.

Why it is built this way:

- **APScheduler 3's BackgroundScheduler with a one-thread executor**: jobs queue behind each
  other instead of overlapping (a sync and a health check must not read a half-published
  warehouse at the same moment on a small server), ``max_instances=1`` drops a second run of the
  same job while one waits (``coalesce`` folds missed runs into one), and a runner-wide lock
  makes "one at a time" hold whatever the executor does. The sync also takes the warehouse's
  writer lock (``sync/lock.py``), which keeps it apart from a sync or an import started by hand.
- **The main thread only waits**: for a signal, or for the dashboard to die. SIGTERM and SIGINT
  set a flag; the running job finishes (a sync cannot be cut at a safe point from outside, and a
  sync killed anyway resumes where it stopped), jobs already queued see the flag and do not
  start, the dashboard gets SIGTERM, and the process exits 0. A second signal stops at once.
- **Jobs are a table of named callables** (:class:`Planned` says when and what follows), so the
  tests run the real scheduler with fast jobs of their own.
- **Follow-ups run in the same turn**: alert evaluation after every sync and health check —
  failed ones included, since "the sync failed" is an alert — and, after the daily full sync,
  the data-quality checks with the reconciliation against the API. Every sync already runs the
  other checks itself, before it publishes (``service/after_sync.py``); the reconciliation's
  requests are worth spending once a day, not every 15 minutes.

The dashboard's command line and its access rule (no users, no address but loopback) are the
CLI's (``cli/dashboard_cmd.py``): this module is handed a command to run and watches it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as dt_time
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kommo_analytics import logs
from kommo_analytics.automation import REPORTS_FOLDER, WEEKLY_FILE_PREFIX
from kommo_analytics.automation.jobs import (
    DEFAULT_JOBS,
    JobContext,
    JobFunction,
    JobOutcome,
    JobSkipped,
)
from kommo_analytics.errors import ConfigError, KommoAnalyticsError
from kommo_analytics.settings import (
    WEEKDAYS,
    Settings,
    account_names,
    load_settings,
    parse_clock,
    parse_weekly,
    using_account,
)
from kommo_analytics.text.i18n import t
from kommo_analytics.text.languages import Locale

LOG_LOCALE: Final[Locale] = "en"
LOGGER_NAME: Final = "kommo_analytics.serve"
# A run later than this (the machine was asleep, a long sync held the turn) is dropped; a
# shorter delay still runs it once.
MISFIRE_GRACE_SECONDS: Final = 3600
# With several accounts, how often the accounts' daily and weekly entries are brought up to date.
TIMED_REFRESH_SECONDS: Final = 600
TIMED_REFRESH_ID: Final = "accounts_timed_jobs"
# The one-off run of a missed job; "-" is in no account name, so no account's entry
# (``full_sync:acme``) can be taken for it.
CATCH_UP: Final = ":catch-up"
CHILD_STOP_SECONDS: Final = 10
WAIT_STEP_SECONDS: Final = 0.2

Status = Literal["ok", "warning", "failed", "skipped", "queued"]


@dataclass(frozen=True)
class Planned:
    """One scheduled job: its name in the job table, when it runs, whether it also runs as soon
    as the scheduler starts, and the jobs that follow it in the same turn — ``then_if_ok`` only
    after it succeeded, ``then`` after it ran at all."""

    name: str
    trigger: BaseTrigger
    run_at_start: bool = False
    then_if_ok: tuple[str, ...] = ()
    then: tuple[str, ...] = ()
    # Asked at start with "now": True when a run fell due while the scheduler was not running
    # (it then runs once, right after the start runs) — APScheduler forgets runs it never saw.
    missed: Callable[[datetime], bool] | None = None


def weekly_report_missed(
    reports: Path, day: str, hour: int, minute: int, zone: tzinfo, now: datetime
) -> bool:
    """Whether the weekly report last due before ``now`` (``day hour:minute`` in ``zone``) was
    never written to ``reports``. Only an install that has written one before catches up, so a
    first start does not mail a report nobody asked for yet; after weeks down, only the latest
    week is caught up (older ones: `kommo-analytics report weekly --week`)."""
    local = now.astimezone(zone)
    back = (local.weekday() - WEEKDAYS.index(day)) % 7
    due_day = local.date() - timedelta(days=back)
    due = datetime.combine(due_day, dt_time(hour, minute), tzinfo=zone)
    if due > local:
        due_day -= timedelta(days=7)
    # The report due on a day covers the last complete week before it (weekly.default_week).
    iso = (due_day - timedelta(days=7)).isocalendar()
    name = f"{WEEKLY_FILE_PREFIX}{iso.year}-W{iso.week:02d}.pdf"
    written = sorted(reports.glob(f"{WEEKLY_FILE_PREFIX}*.pdf")) if reports.is_dir() else []
    return bool(written) and not (reports / name).exists()


class _NoCoalesceNotice(logging.Filter):
    """Drops APScheduler's warning that a run was skipped because the job is still running or
    waiting its turn: that is the coalescing asked for, not a problem (a missed run is still
    logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def setup_logging(
    settings: Settings, *, console: bool = True, name: str = "serve"
) -> logging.Logger:
    """The scheduler's log: ``DATA_DIR/logs/serve.log`` (rotated, private, secrets masked) and,
    for a service manager's journal, standard error. The sync's own log (dlt, the drivers)
    stays in ``sync.log``; the sync job's progress lines come here. A worker's goes to
    ``worker.log`` (``name``)."""
    logs.configure(
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        secrets=logs.secret_values(settings),
    )
    path = logs.log_file(settings.data_dir, name)
    try:
        handlers: list[logging.Handler] = [logs.file_handler(path)]
    except OSError as exc:
        raise ConfigError(
            f"cannot create the logs folder {path.parent}: {exc.strerror or exc}",
            hint="give the user running kommo-analytics write access to DATA_DIR",
        ) from exc
    if console:
        handlers.append(logs.console_handler())
    for logger_name, level in (
        ("kommo_analytics", logging.INFO),
        ("apscheduler", logging.WARNING),
        ("dramatiq", logging.WARNING),
    ):
        logger = logging.getLogger(logger_name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _NoCoalesceNotice) for f in scheduler_log.filters):
        scheduler_log.addFilter(_NoCoalesceNotice())
    return logging.getLogger(LOGGER_NAME if name == "serve" else f"kommo_analytics.{name}")


def account_zone(settings: Settings, database_url: str | None = None) -> tzinfo:
    """The account's zone as every reader decides it (``service/account.py``); before the first
    sync ``ACCOUNT_TIMEZONE``, else UTC."""
    from kommo_analytics.service import account

    try:
        found = account.load(
            account.target_for(settings, database_url),
            timezone_override=settings.account_timezone,
        )
    except KommoAnalyticsError:
        found = None
    if found is not None:
        return found.zone
    return account.zone_of(settings.account_timezone)


def default_plan(settings: Settings, zone: tzinfo) -> list[Planned]:
    """The schedule of the settings: incremental syncs and health checks at their intervals
    (both once at start, so a fresh server gets data and a status), the full sync daily and the
    weekly report, at their times in the account's zone."""
    hour, minute = parse_clock(settings.full_sync_time, "FULL_SYNC_TIME")
    day, report_hour, report_minute = parse_weekly(
        settings.weekly_report_time, "WEEKLY_REPORT_TIME"
    )
    return [
        Planned(
            "sync",
            IntervalTrigger(seconds=settings.sync_interval_minutes * 60, timezone=zone),
            run_at_start=True,
            then=("alerts",),
        ),
        Planned(
            "full_sync",
            CronTrigger(hour=hour, minute=minute, timezone=zone),
            then_if_ok=("checks",),
            then=("alerts",),
        ),
        Planned(
            "health",
            IntervalTrigger(seconds=settings.health_interval_minutes * 60, timezone=zone),
            run_at_start=True,
            then=("alerts",),
        ),
        Planned(
            "weekly_report",
            CronTrigger(day_of_week=day, hour=report_hour, minute=report_minute, timezone=zone),
            missed=lambda now: weekly_report_missed(
                settings.data_dir / REPORTS_FOLDER, day, report_hour, report_minute, zone, now
            ),
        ),
    ]


class Runner:
    """Runs jobs by name, one at a time, logging each one's start, end, duration and outcome.
    A job that raises is logged as failed and nothing else stops.

    With ``accounts`` (an install of several accounts) each planned job runs for every account
    in turn, with that account's context (``context_for``); with ``enqueue`` (BROKER_URL) it is
    put on the workers' queue for every account instead of running here."""

    def __init__(
        self,
        jobs: Mapping[str, JobFunction],
        context: JobContext,
        log: logging.Logger,
        *,
        after: Callable[[str, Status], None] | None = None,
        accounts: Callable[[], Sequence[str]] | None = None,
        context_for: Callable[[str], JobContext] | None = None,
        enqueue: Callable[[str, Planned], None] | None = None,
    ) -> None:
        self.jobs = jobs
        self.context = context
        self.log = log
        self.after = after
        self.accounts = accounts
        self.context_for = context_for
        self.enqueue = enqueue
        self._one_at_a_time = threading.Lock()
        self.history: list[tuple[str, Status]] = []  # every end, in order (for the tests)

    def run_planned(self, planned: Planned, only: Sequence[str] | None = None) -> None:
        with self._one_at_a_time:
            if self.accounts is None and self.enqueue is None:
                self._turn(planned, self.context, None)  # one account: as it always was
                return
            names = list(self.accounts()) if self.accounts is not None else []
            for account in names if only is None else [n for n in names if n in only]:
                label = f"{planned.name} [{account}]"
                if self.context.stopping.is_set():
                    self.log.info(t("serve.log.job.stopping", LOG_LOCALE, job=label))
                    self._end(planned.name, "skipped")
                    continue
                if self.enqueue is not None:
                    self._put(planned, account, label)
                    continue
                try:
                    assert self.context_for is not None
                    context = self.context_for(account)
                except KommoAnalyticsError as exc:  # an account removed, its settings broken
                    values = {"job": label, "seconds": "0.0", "detail": exc.one_line()}
                    self.log.error(t("serve.log.job.failed", LOG_LOCALE, **values))
                    self._end(planned.name, "failed")
                    continue
                self._turn(planned, context, account)

    def _put(self, planned: Planned, account: str, label: str) -> None:
        assert self.enqueue is not None
        try:
            self.enqueue(account, planned)
        except Exception as exc:  # the broker may be down for a moment: the next run tries again
            detail = exc.one_line() if isinstance(exc, KommoAnalyticsError) else repr(exc)
            values = {"job": label, "seconds": "0.0", "detail": detail}
            self.log.error(t("serve.log.job.failed", LOG_LOCALE, **values))
            self._end(planned.name, "failed")
            return
        self.log.info(t("worker.log.enqueued", LOG_LOCALE, job=label))
        self._end(planned.name, "queued")

    def _turn(self, planned: Planned, context: JobContext, account: str | None) -> None:
        status = self._run(planned.name, context, account)
        follow = [*(planned.then_if_ok if status in ("ok", "warning") else ()), *planned.then]
        if status == "skipped":
            follow = []  # nothing ran: nothing new to check or alert on
        for name in follow:
            self._run(name, context, account)

    def _run(
        self, name: str, context: JobContext | None = None, account: str | None = None
    ) -> Status:
        context = context or self.context
        label = name if account is None else f"{name} [{account}]"
        if context.stopping.is_set():
            self.log.info(t("serve.log.job.stopping", LOG_LOCALE, job=label))
            return self._end(name, "skipped")
        job = self.jobs.get(name)
        if job is None:
            self.log.error(t("serve.log.job.unknown", LOG_LOCALE, job=label))
            return self._end(name, "failed")
        self.log.info(t("serve.log.job.started", LOG_LOCALE, job=label))
        started = time.monotonic()
        status: Status
        try:
            outcome = job(context)
        except JobSkipped as exc:
            status, detail = "skipped", exc.one_line()
        except KommoAnalyticsError as exc:
            status, detail = "failed", exc.one_line()
        except Exception as exc:  # any failure of one job must leave the scheduler running
            status, detail = "failed", repr(exc)
            self.log.debug("traceback of %s", name, exc_info=True)
        else:
            if not isinstance(outcome, JobOutcome):
                # A job that does not say how it went is not shown as a success.
                status, detail = "failed", f"the job returned {outcome!r}, not an outcome"
            else:
                status, detail = outcome.level, outcome.summary
        took = time.monotonic() - started
        values = {"job": label, "seconds": f"{took:.1f}", "detail": detail}
        level = {"ok": logging.INFO, "warning": logging.WARNING, "skipped": logging.INFO}
        self.log.log(
            level.get(status, logging.ERROR), t(f"serve.log.job.{status}", LOG_LOCALE, **values)
        )
        return self._end(name, status)

    def _end(self, name: str, status: Status) -> Status:
        self.history.append((name, status))
        if self.after is not None:
            try:
                self.after(name, status)
            except Exception:  # a failing hook must not take the job's turn down with it
                self.log.exception("after-job step of %s failed", name)
        return status


@dataclass(frozen=True)
class Child:
    """A process served alongside the scheduler (the dashboard): its command and environment."""

    command: Sequence[str]
    env: Mapping[str, str] | None = None
    name: str = "dashboard"


@dataclass
class Service:
    """The scheduler, its runner and the child process, started and stopped together."""

    plan: Sequence[Planned]
    jobs: Mapping[str, JobFunction]
    context: JobContext
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(LOGGER_NAME))
    child: Child | None = None
    zone: tzinfo = UTC
    # The plan again for another zone: a first sync can reveal the account's zone, and the
    # daily and weekly times are the account's.
    replan: Callable[[tzinfo], Sequence[Planned]] | None = None
    zone_source: Callable[[], tzinfo] | None = None
    # Several accounts (see Runner): who they are, each one's context, or the queue's send; and
    # which accounts missed a run of a planned job (by its name) while nothing was running.
    accounts: Callable[[], Sequence[str]] | None = None
    context_for: Callable[[str], JobContext] | None = None
    enqueue: Callable[[str, Planned], None] | None = None
    missed_for: Callable[[str, datetime], Sequence[str]] | None = None
    # Each account's own plan, in its own zone: the daily and weekly jobs run at the account's
    # clock, one scheduler entry per account (``refresh_timed_jobs``); None: all at this zone.
    plan_for: Callable[[str], Sequence[Planned]] | None = None

    def __post_init__(self) -> None:
        self.runner = Runner(
            self.jobs,
            self.context,
            self.log,
            after=self._after_job,
            accounts=self.accounts,
            context_for=self.context_for,
            enqueue=self.enqueue,
        )
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            },
            timezone=self.zone,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._signals = 0

    @property
    def stopping(self) -> threading.Event:
        return self.context.stopping

    def start(self) -> None:
        missing = sorted(
            {n for p in self.plan for n in (p.name, *p.then_if_ok, *p.then)} - set(self.jobs)
        )
        if missing:
            raise KommoAnalyticsError(
                f"the schedule names jobs that do not exist: {', '.join(missing)}",
                hint="a programming error: report it",
            )
        now = datetime.now(self.zone)
        for planned in self.plan:
            extra: dict[str, datetime] = {"next_run_time": now} if planned.run_at_start else {}
            if planned.missed is not None and self.missed_for is not None:
                # Each account has its own record of what ran: only those that missed it.
                only = list(self.missed_for(planned.name, now))
                if only:
                    self.log.info(t("serve.log.catch_up", LOG_LOCALE, job=planned.name))
                    self.scheduler.add_job(
                        self.runner.run_planned,
                        "date",
                        run_date=now + timedelta(seconds=1),
                        args=[planned, only],
                        id=f"{planned.name}{CATCH_UP}",
                        name=planned.name,
                    )
            elif planned.missed is not None and planned.missed(now):
                # A second later: behind the start's runs on the one-thread executor.
                extra = {"next_run_time": now + timedelta(seconds=1)}
                self.log.info(t("serve.log.catch_up", LOG_LOCALE, job=planned.name))
            if self._per_account(planned):
                continue  # one entry per account, each at its own clock: below
            self.scheduler.add_job(
                self.runner.run_planned,
                planned.trigger,
                args=[planned],
                id=planned.name,
                name=planned.name,
                **extra,
            )
        if self.plan_for is not None:
            self.refresh_timed_jobs()
            # Accounts come and go, and a first sync reveals an account's zone: looked at again.
            self.scheduler.add_job(self.refresh_timed_jobs, IntervalTrigger(
                seconds=TIMED_REFRESH_SECONDS, timezone=self.zone), id=TIMED_REFRESH_ID,
                name=TIMED_REFRESH_ID)  # fmt: skip
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            if job.id == TIMED_REFRESH_ID or job.id.endswith(CATCH_UP):
                continue
            when = job.next_run_time.isoformat() if job.next_run_time else "-"
            self.log.info(
                t("serve.log.planned", LOG_LOCALE, job=job.id, trigger=job.trigger, next=when)
            )
        if self.child is not None:
            self.process = subprocess.Popen(
                list(self.child.command), env=dict(self.child.env) if self.child.env else None
            )
            self.log.info(
                t("serve.log.child.started", LOG_LOCALE, name=self.child.name, pid=self.process.pid)
            )

    def _per_account(self, planned: Planned) -> bool:
        """Whether ``planned`` runs at each account's clock (a daily or weekly time, with
        several accounts) rather than once for all of them in turn (an interval)."""
        return self.plan_for is not None and isinstance(planned.trigger, CronTrigger)

    def refresh_timed_jobs(self) -> None:
        """One scheduler entry per account and timed job (``full_sync:acme``), at that account's
        time in its zone: added for a new account, moved when its zone or times changed, taken
        out for an account that is gone."""
        assert self.plan_for is not None and self.accounts is not None
        wanted: dict[str, Planned] = {}
        accounts: dict[str, str] = {}
        for account in self.accounts():
            try:
                own = self.plan_for(account)
            except KommoAnalyticsError as exc:  # its settings broken: its interval jobs say so
                self.log.warning("no daily or weekly jobs for %s: %s", account, exc.one_line())
                continue
            for planned in own:
                if isinstance(planned.trigger, CronTrigger):
                    wanted[f"{planned.name}:{account}"] = planned
                    accounts[f"{planned.name}:{account}"] = account
        names = {planned.name for planned in self.plan if self._per_account(planned)}
        for job in self.scheduler.get_jobs():
            name, _, account = job.id.partition(":")
            if name in names and account and not job.id.endswith(CATCH_UP) and job.id not in wanted:
                self.scheduler.remove_job(job.id)
        for job_id, planned in wanted.items():
            job = self.scheduler.get_job(job_id)
            if job is None:
                self.scheduler.add_job(self.runner.run_planned, planned.trigger,
                                       args=[planned, [accounts[job_id]]], id=job_id,
                                       name=planned.name)  # fmt: skip
            elif repr(job.trigger) != repr(planned.trigger):  # str() leaves the zone out
                moved = self.scheduler.reschedule_job(job_id, trigger=planned.trigger)
                when = moved.next_run_time.isoformat() if moved.next_run_time else "-"
                self.log.info(t("serve.log.planned", LOG_LOCALE, job=job_id,
                                trigger=planned.trigger, next=when))  # fmt: skip

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        self._signals += 1
        if self._signals > 1:
            # Asked twice: stop now. A sync cut short resumes where it stopped next time.
            self.log.warning(t("serve.log.stop.now", LOG_LOCALE))
            self._stop_child()
            os._exit(1)
        self.log.info(t("serve.log.stop.asked", LOG_LOCALE, signal=signal_name(signum)))
        self.stopping.set()

    def run_until_stopped(self) -> int:
        """Start, wait for SIGTERM/SIGINT (or the child's death), stop cleanly. The exit code:
        0 after a signal, 1 when the dashboard died by itself."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self.request_stop)
        code = 0
        try:
            self.start()
            while not self.stopping.wait(WAIT_STEP_SECONDS):
                if self.process is not None and self.process.poll() is not None:
                    assert self.child is not None
                    self.log.error(
                        t(
                            "serve.log.child.died",
                            LOG_LOCALE,
                            name=self.child.name,
                            code=self.process.returncode,
                        )
                    )
                    code = 1
                    self.stopping.set()
        finally:
            self.shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def shutdown(self) -> None:
        self.stopping.set()
        if self.scheduler.running:
            # Waits for the running job; queued ones see the flag and end at once.
            self.scheduler.shutdown(wait=True)
        self._stop_child()
        self.log.info(t("serve.log.stopped", LOG_LOCALE))

    def _stop_child(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(CHILD_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        name = self.child.name if self.child else "child"
        self.log.info(t("serve.log.child.stopped", LOG_LOCALE, name=name, pid=process.pid))

    def _after_job(self, name: str, status: Status) -> None:
        if name not in ("sync", "full_sync") or status != "ok":
            return
        if self.replan is None or self.zone_source is None:
            return
        zone = self.zone_source()
        if str(zone) == str(self.zone):
            return
        self.log.info(t("serve.log.zone", LOG_LOCALE, old=self.zone, new=zone))
        self.zone = zone
        for planned in self.replan(zone):
            if isinstance(planned.trigger, CronTrigger) and self.scheduler.get_job(planned.name):
                self.scheduler.reschedule_job(planned.name, trigger=planned.trigger)


def signal_name(signum: int | None) -> str:
    """A signal as people name it (SIGTERM), for the stop's log line."""
    if signum is None:
        return "request"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def build_service(
    settings: Settings,
    *,
    database_url: str | None = None,
    child: Child | None = None,
    dashboard_url: str | None = None,
    jobs: Mapping[str, JobFunction] = DEFAULT_JOBS,
    plan: Callable[[Settings, tzinfo], Sequence[Planned]] = default_plan,
    console: bool = True,
    enqueue: Callable[[str, Planned], None] | None = None,
) -> Service:
    """The service of ``kommo-analytics serve``: its logging set up, the zone decided, the plan
    made from the settings (tests hand in their own jobs and plan).

    An install of one account runs as it always did. With several, every interval job runs for
    each account in turn, and the daily and weekly ones for each account at its own time in its
    own zone; with ``enqueue`` (BROKER_URL) they are put on the workers' queue instead."""
    log = setup_logging(settings, console=console)
    zone = account_zone(settings, database_url)
    log.info(
        t(
            "serve.log.start",
            LOG_LOCALE,
            pid=os.getpid(),
            zone=zone,
            logs=logs.logs_dir(settings.data_dir),
        )
    )
    context = JobContext(
        settings,
        database_url=database_url,
        log=logging.getLogger("kommo_analytics.jobs"),
        dashboard_url=dashboard_url,
    )
    service = Service(
        plan(settings, zone),
        jobs,
        context,
        log=log,
        child=child,
        zone=zone,
        replan=lambda new: plan(settings, new),
        zone_source=lambda: account_zone(settings, database_url),
    )
    if enqueue is None and len(account_names(settings)) <= 1:
        return service

    def names() -> list[str]:
        # Read at every run: an account added while serve runs gets its jobs from the next one.
        return account_names(settings) or [settings.account_name]

    def context_for(name: str) -> JobContext:
        with using_account(name):
            own = load_settings()
        return replace(context, settings=own, database_url=None)

    def plan_for(name: str) -> Sequence[Planned]:
        own = context_for(name).settings
        return plan(own, account_zone(own))

    def missed_for(job: str, now: datetime) -> list[str]:
        found = []
        for name in names():
            try:
                own = plan_for(name)
            except KommoAnalyticsError:
                continue
            if any(p.name == job and p.missed and p.missed(now) for p in own):
                found.append(name)
        return found

    service.accounts = names
    service.context_for = context_for
    service.enqueue = enqueue
    service.missed_for = missed_for
    service.plan_for = plan_for
    service.__post_init__()  # the runner again, with the accounts
    return service
