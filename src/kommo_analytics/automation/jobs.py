"""The jobs `kommo-analytics serve` runs: each a function of a :class:`JobContext` that does its
work and returns a one-line summary, or raises. A job that raises has failed; one that raises
:class:`JobSkipped` did not run (and is logged so, never as a success).

The data-quality checks, the alerts and the weekly report are imported inside their jobs: they
are heavy, and the serve process should start, and its other jobs run, even when one of them
cannot be imported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from kommo_analytics.errors import KommoAnalyticsError, WriterBusyError
from kommo_analytics.settings import Settings

Level = Literal["ok", "warning"]


@dataclass(frozen=True)
class JobContext:
    """What every job gets: the settings, the warehouse (None: the settings'), a logger for its
    progress lines, the dashboard address the health check should find answering, and "now"."""

    settings: Settings
    database_url: str | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("kommo_analytics.jobs"))
    dashboard_url: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class JobOutcome:
    """How a job that ran went: ``warning`` when it ran but found something to look at (a
    health check below ok)."""

    summary: str
    level: Level = "ok"


class JobSkipped(KommoAnalyticsError):
    """The job did not run (another writer holds the lock, the scheduler is stopping)."""


JobFunction = Callable[[JobContext], JobOutcome]


def _sync(ctx: JobContext, *, full: bool) -> JobOutcome:
    from kommo_analytics.service.account import target_for
    from kommo_analytics.service.after_sync import AFTER_BUILD, AFTER_UNCHANGED
    from kommo_analytics.sync.engine import SyncOptions
    from kommo_analytics.sync.lock import writer_active
    from kommo_analytics.sync.progress import LogReporter
    from kommo_analytics.sync.runner import run_sync

    settings = ctx.settings
    error = settings.kommo_account_error()
    if error is not None:
        raise error
    # A sync, an import or a rebuild started by hand holds the writer's lock: this run waits for
    # the next turn instead of counting as a failure.
    if writer_active(target_for(settings, ctx.database_url), settings.data_dir):
        raise JobSkipped(
            "another writer holds the warehouse's lock", hint="the next scheduled sync runs"
        )
    try:
        result = run_sync(
            settings,
            SyncOptions(full=full),
            LogReporter(ctx.log.info, every=60),
            database_url=ctx.database_url,
            after_build=AFTER_BUILD,
            after_unchanged=AFTER_UNCHANGED,
        )
    except WriterBusyError as exc:
        # Taken between the look above and the run's own lock (another worker's sync of the
        # same account started in that moment): the same "not my turn".
        raise JobSkipped(exc.message, hint="the next scheduled sync runs") from exc
    rows = sum(result.rows.values())
    requests = sum(result.requests.values())
    summary = f"{result.mode} sync {result.status}: {rows:,} rows, {requests:,} requests"
    if result.status != "ok":  # run_sync raises on failure; any other end is not a success
        raise KommoAnalyticsError(
            summary + (f" ({result.error})" if result.error else ""),
            hint="see the sync's log and `kommo-analytics health`",
        )
    return JobOutcome(summary, "warning" if result.warnings else "ok")


def sync_incremental(ctx: JobContext) -> JobOutcome:
    """What changed since the last sync (a first sync reads everything)."""
    return _sync(ctx, full=False)


def sync_full(ctx: JobContext) -> JobOutcome:
    """The daily reconciliation: the whole history read again."""
    return _sync(ctx, full=True)


def health(ctx: JobContext) -> JobOutcome:
    from kommo_analytics.service.health_checks import Level as HealthLevel
    from kommo_analytics.service.health_checks import check_health

    report = check_health(
        ctx.settings,
        database_url=ctx.database_url,
        now=ctx.clock(),
        dashboard_url=ctx.dashboard_url,
    )
    problems = [c for c in report.checks if c.level is not HealthLevel.OK]
    named = ", ".join(
        f"{c.check}{f' {c.subject}' if c.subject else ''}: {c.level}" for c in problems
    )
    summary = f"health {report.level}" + (f" ({named})" if named else "")
    return JobOutcome(summary, "ok" if report.level is HealthLevel.OK else "warning")


def checks(ctx: JobContext) -> JobOutcome:
    from kommo_analytics.service.quality import run_checks, summary

    run = run_checks(ctx.settings, ctx.clock(), database_url=ctx.database_url, reconcile=True)
    return JobOutcome(summary(run), "warning" if run.errors else "ok")


def alerts(ctx: JobContext) -> JobOutcome:
    from kommo_analytics.automation.alerts import evaluate_and_send

    result = evaluate_and_send(ctx.settings, ctx.clock(), database_url=ctx.database_url)
    failed = [f"{d.channel}: {d.error}" for d in result.deliveries if not d.ok]
    parts = [
        f"{len(result.evaluated)} triggers evaluated",
        f"{len(result.fired)} conditions",
        f"{len(result.sent)} messages sent",
    ]
    if result.errors:
        parts.append("not read: " + ", ".join(sorted(result.errors)))
    if result.no_channel:
        parts.append("news but no channel is configured")
    if failed:
        parts.append("failed: " + "; ".join(failed))
    return JobOutcome("alerts: " + ", ".join(parts), "warning" if result.failed else "ok")


def weekly_report(ctx: JobContext) -> JobOutcome:
    from kommo_analytics.automation.weekly import send_weekly

    path = send_weekly(ctx.settings, ctx.clock(), database_url=ctx.database_url)
    return JobOutcome(f"weekly report sent ({path})")


# The job table `serve` runs by name; tests hand in their own.
DEFAULT_JOBS: Final[Mapping[str, JobFunction]] = {
    "sync": sync_incremental,
    "full_sync": sync_full,
    "health": health,
    "checks": checks,
    "alerts": alerts,
    "weekly_report": weekly_report,
}
