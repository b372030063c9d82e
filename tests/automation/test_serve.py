"""The scheduler of `serve` with fast jobs of the tests' own: one job at a time, a failing job
stops nothing, follow-ups, a clean stop on SIGTERM, the plan from the settings."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from typer.testing import CliRunner

from kommo_analytics.automation import jobs, serve
from kommo_analytics.automation.jobs import JobContext, JobOutcome, JobSkipped
from kommo_analytics.cli.main import app
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import Settings, load_settings

runner = CliRunner()
LOG = logging.getLogger("test.serve")


def context(tmp_path: Path) -> JobContext:
    return JobContext(Settings(data_dir=tmp_path), log=LOG)


class Recorder:
    """Jobs that note when they start and end (monotonic seconds)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()

    def job(self, name: str, seconds: float, *, fail: bool = False) -> jobs.JobFunction:
        def run(_ctx: JobContext) -> JobOutcome:
            start = time.monotonic()
            time.sleep(seconds)
            with self.lock:
                self.spans.append((name, start, time.monotonic()))
            if fail:
                raise RuntimeError(f"{name} broke")
            return JobOutcome(f"{name} done")

        return run

    def names(self) -> list[str]:
        return [name for name, _, _ in self.spans]


def every(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds)


def test_jobs_never_overlap(tmp_path: Path) -> None:
    rec = Recorder()
    # Two jobs each due every 0.1 s and each taking 0.15 s: run in parallel they would overlap.
    service = serve.Service(
        [serve.Planned("a", every(0.1), run_at_start=True),
         serve.Planned("b", every(0.1), run_at_start=True)],
        {"a": rec.job("a", 0.15), "b": rec.job("b", 0.15)},
        context(tmp_path),
        log=LOG,
    )  # fmt: skip
    service.start()
    time.sleep(1.5)
    service.shutdown()
    spans = sorted(rec.spans, key=lambda s: s[1])
    assert rec.names().count("a") >= 2 and rec.names().count("b") >= 2
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert start >= end, spans


def test_a_failing_job_stops_neither_the_others_nor_itself(tmp_path: Path) -> None:
    rec = Recorder()
    service = serve.Service(
        [serve.Planned("bad", every(0.1), run_at_start=True),
         serve.Planned("good", every(0.1), run_at_start=True)],
        {"bad": rec.job("bad", 0.01, fail=True), "good": rec.job("good", 0.01)},
        context(tmp_path),
        log=LOG,
    )  # fmt: skip
    service.start()
    time.sleep(0.8)
    assert service.scheduler.running
    service.shutdown()
    history = service.runner.history
    assert history.count(("bad", "failed")) >= 2
    assert history.count(("good", "ok")) >= 2


def test_follow_ups_checks_only_after_success_alerts_always(tmp_path: Path) -> None:
    rec = Recorder()
    table = {
        "sync_ok": rec.job("sync_ok", 0),
        "sync_bad": rec.job("sync_bad", 0, fail=True),
        "checks": rec.job("checks", 0),
        "alerts": rec.job("alerts", 0),
    }
    runner_ = serve.Runner(table, context(tmp_path), LOG)
    for name in ("sync_ok", "sync_bad"):
        runner_.run_planned(
            serve.Planned(name, every(60), then_if_ok=("checks",), then=("alerts",))
        )
    assert rec.names() == ["sync_ok", "checks", "alerts", "sync_bad", "alerts"]
    assert runner_.history[3] == ("sync_bad", "failed")


def test_a_skipped_or_silent_job_is_never_shown_as_succeeded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def busy(_ctx: JobContext) -> JobOutcome:
        raise JobSkipped("another writer holds the warehouse's lock", hint="wait")

    def silent(_ctx: JobContext) -> JobOutcome:
        return None  # type: ignore[return-value]

    ran: list[str] = []
    table = {"busy": busy, "silent": silent, "alerts": lambda _c: ran.append("x") or JobOutcome("")}
    runner_ = serve.Runner(table, context(tmp_path), LOG)
    with caplog.at_level(logging.INFO, logger="test.serve"):
        runner_.run_planned(serve.Planned("busy", every(60), then=("alerts",)))
        runner_.run_planned(serve.Planned("silent", every(60)))
    assert runner_.history == [("busy", "skipped"), ("silent", "failed")]
    assert ran == []  # nothing ran, so nothing to alert on
    assert "job busy: did not run" in caplog.text
    assert "job silent: FAILED" in caplog.text and "not an outcome" in caplog.text


def test_a_real_job_that_cannot_do_its_work_is_a_failure(tmp_path: Path) -> None:
    # The real data-quality job on a data folder no sync has filled: the checks have nothing to
    # read, which is a failed job — never one logged as done.
    runner_ = serve.Runner({"checks": jobs.DEFAULT_JOBS["checks"]}, context(tmp_path), LOG)
    assert runner_._run("checks") == "failed"


def test_sigterm_finishes_the_running_job_skips_the_queued_one_and_stops_the_child(
    tmp_path: Path,
) -> None:
    rec = Recorder()
    child = serve.Child([sys.executable, "-c", "import time; time.sleep(60)"], name="dashboard")
    service = serve.Service(
        # "slow" runs at once for 0.6 s; "queued" comes due at 0.2 s and waits its turn.
        [serve.Planned("slow", every(60), run_at_start=True),
         serve.Planned("queued", every(0.2))],
        {"slow": rec.job("slow", 0.6), "queued": rec.job("queued", 0)},
        context(tmp_path),
        log=LOG,
        child=child,
    )  # fmt: skip

    def term_soon() -> None:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=term_soon, daemon=True).start()
    started = time.monotonic()
    code = service.run_until_stopped()
    assert code == 0
    assert time.monotonic() - started < 5
    # SIGTERM came at 0.3 s: the running job finished, the waiting one did not start.
    assert service.runner.history == [("slow", "ok"), ("queued", "skipped")]
    assert service.process is not None and service.process.poll() is not None
    assert signal.getsignal(signal.SIGTERM) is not service.request_stop  # handler restored


def test_a_dashboard_that_dies_stops_the_service_with_exit_code_1(tmp_path: Path) -> None:
    service = serve.Service(
        [serve.Planned("idle", every(60))],
        {"idle": lambda _c: JobOutcome("")},
        context(tmp_path),
        log=LOG,
        child=serve.Child([sys.executable, "-c", "raise SystemExit(3)"]),
    )
    assert service.run_until_stopped() == 1


def test_the_plan_of_the_settings_in_the_accounts_zone() -> None:
    settings = Settings(
        sync_interval_minutes=10,
        health_interval_minutes=30,
        full_sync_time="06:30",
        weekly_report_time="tue 07:15",
    )
    zone = ZoneInfo("America/Sao_Paulo")
    plan = {p.name: p for p in serve.default_plan(settings, zone)}
    assert set(plan) == {"sync", "full_sync", "health", "weekly_report"}
    assert plan["sync"].trigger.interval.total_seconds() == 600
    assert plan["health"].trigger.interval.total_seconds() == 1800
    assert plan["sync"].then_if_ok == () and plan["sync"].then == ("alerts",)
    assert plan["full_sync"].then_if_ok == ("checks",) and plan["full_sync"].then == ("alerts",)
    assert plan["health"].then == ("alerts",)
    # Wednesday 2026-11-25 12:00 in São Paulo: the full sync next at 06:30 on the 26th, the
    # report on Tuesday 1 December at 07:15, both in the account's zone.
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert isinstance(plan["full_sync"].trigger, CronTrigger)
    full = plan["full_sync"].trigger.get_next_fire_time(None, now)
    weekly = plan["weekly_report"].trigger.get_next_fire_time(None, now)
    assert full == datetime(2026, 11, 26, 6, 30, tzinfo=zone)
    assert weekly == datetime(2026, 12, 1, 7, 15, tzinfo=zone)
    assert set(plan) <= set(jobs.DEFAULT_JOBS)


def test_with_several_accounts_each_runs_its_daily_and_weekly_jobs_at_its_own_clock(
    tmp_path: Path,
) -> None:
    """A Brazilian and a Mexican account, both with the full sync at 06:00 and the report on
    Monday 08:00: one entry per account and job, each at that time on its own clock (São Paulo
    UTC-3, Mexico City UTC-6: three hours apart). An account added is planned, a zone learnt
    moves its entries, an account removed loses them; the interval jobs stay one for all."""
    zones = {"alfa": ZoneInfo("America/Sao_Paulo"), "bravo": ZoneInfo("America/Mexico_City")}
    settings = Settings(full_sync_time="06:00", weekly_report_time="mon 08:00",
                        sync_interval_minutes=60, health_interval_minutes=60)  # fmt: skip
    accounts = ["alfa", "bravo"]
    rec = Recorder()
    service = serve.Service(
        serve.default_plan(settings, zones["alfa"]),
        {name: rec.job(name, 0) for name in jobs.DEFAULT_JOBS},
        context(tmp_path),
        log=LOG,
        zone=zones["alfa"],
        accounts=lambda: list(accounts),
        context_for=lambda _name: context(tmp_path),
        plan_for=lambda name: serve.default_plan(settings, zones[name]),
    )
    service.start()
    try:
        ids = sorted(job.id for job in service.scheduler.get_jobs())
        assert ids == sorted(["sync", "health", serve.TIMED_REFRESH_ID, "full_sync:alfa",
                              "full_sync:bravo", "weekly_report:alfa", "weekly_report:bravo"])  # fmt: skip

        def next_run(job_id: str) -> datetime:
            job = service.scheduler.get_job(job_id)
            assert job is not None and job.next_run_time is not None
            return job.next_run_time

        for name, zone in zones.items():
            full, weekly = next_run(f"full_sync:{name}"), next_run(f"weekly_report:{name}")
            assert (full.tzinfo, full.hour, full.minute) == (zone, 6, 0)
            assert (weekly.tzinfo, weekly.weekday(), weekly.hour) == (zone, 0, 8)
        gap = next_run("full_sync:bravo") - next_run("full_sync:alfa")
        assert gap.total_seconds() % 86400 == 3 * 3600

        accounts.append("charlie")
        zones["charlie"] = ZoneInfo("America/Bogota")
        zones["bravo"] = ZoneInfo("America/Sao_Paulo")  # its first sync told its real zone
        accounts.remove("alfa")
        service.refresh_timed_jobs()
        ids = {job.id for job in service.scheduler.get_jobs()}
        assert {"full_sync:charlie", "weekly_report:charlie"} <= ids
        assert not {"full_sync:alfa", "weekly_report:alfa"} & ids
        assert next_run("full_sync:bravo").tzinfo == ZoneInfo("America/Sao_Paulo")
        assert next_run("full_sync:charlie").tzinfo == ZoneInfo("America/Bogota")
    finally:
        service.shutdown()


SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("written", "now", "missed"),
    [
        # The report due Monday 30 Nov 08:00 (São Paulo) covers 2026-W48 (23–29 Nov).
        (["2026-W47"], datetime(2026, 12, 1, 12, 0, tzinfo=UTC), True),  # down on Monday
        (["2026-W47", "2026-W48"], datetime(2026, 12, 1, 12, 0, tzinfo=UTC), False),  # sent
        # Monday 30 Nov 07:59 in São Paulo (10:59 UTC): W48's is not due yet, W47's was sent.
        (["2026-W47"], datetime(2026, 11, 30, 10, 59, tzinfo=UTC), False),
        (["2026-W46"], datetime(2026, 11, 30, 10, 59, tzinfo=UTC), True),  # W47's was not
        ([], datetime(2026, 12, 1, 12, 0, tzinfo=UTC), False),  # a first start sends nothing
    ],
)
def test_a_weekly_report_due_while_stopped_is_missed_unless_its_pdf_is_there(
    tmp_path: Path, written: list[str], now: datetime, missed: bool
) -> None:
    for week in written:
        (tmp_path / f"kommo-weekly-{week}.pdf").write_bytes(b"%PDF")
    assert serve.weekly_report_missed(tmp_path, "mon", 8, 0, SAO_PAULO, now) is missed


def test_a_missed_run_runs_once_at_start_after_the_start_runs(tmp_path: Path) -> None:
    rec = Recorder()
    # "weekly" would next fire in a week; it was missed, so it runs now, after "sync".
    service = serve.Service(
        [serve.Planned("sync", every(3600), run_at_start=True),
         serve.Planned("weekly", every(7 * 86400), missed=lambda now: True),
         serve.Planned("other", every(7 * 86400), missed=lambda now: False)],
        {n: rec.job(n, 0.01) for n in ("sync", "weekly", "other")},
        context(tmp_path),
        log=LOG,
    )  # fmt: skip
    service.start()
    deadline = time.monotonic() + 10
    while len(rec.spans) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    service.shutdown()
    assert rec.names() == ["sync", "weekly"]


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("FULL_SYNC_TIME", "6am", "FULL_SYNC_TIME must be a time of day as HH:MM"),
        ("FULL_SYNC_TIME", "24:00", "FULL_SYNC_TIME must be a time of day as HH:MM"),
        ("WEEKLY_REPORT_TIME", "monday", "WEEKLY_REPORT_TIME must be a weekday and a time"),
        ("WEEKLY_REPORT_TIME", "mo 08:00", "WEEKLY_REPORT_TIME must be a weekday and a time"),
        ("WEEKLY_REPORT_TIME", "fri 8:75", "WEEKLY_REPORT_TIME must be a time of day as HH:MM"),
        ("SYNC_INTERVAL_MINUTES", "0", "SYNC_INTERVAL_MINUTES"),
        ("HEALTH_INTERVAL_MINUTES", "-5", "HEALTH_INTERVAL_MINUTES"),
    ],
)
def test_a_wrong_time_setting_is_a_clear_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_times_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULL_SYNC_TIME", "6:05")
    monkeypatch.setenv("WEEKLY_REPORT_TIME", "Friday 17:30")
    settings = load_settings()
    assert (settings.full_sync_time, settings.weekly_report_time) == ("06:05", "fri 17:30")


def test_serve_refuses_without_an_account(clean_env: Path) -> None:
    result = runner.invoke(app, ["serve", "--no-dashboard"])
    assert result.exit_code == 2
    assert "no Kommo account is configured" in result.stderr


def test_serve_refuses_to_open_the_dashboard_to_the_network_without_users(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_BASE_URL", "https://acme.kommo.com")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "t" * 20)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "no users exist yet" in result.stderr and "users add" in result.stderr
    assert not (clean_env / "data" / "logs" / "serve.log").exists()  # nothing started


def test_the_serve_log_masks_the_settings_secrets(tmp_path: Path) -> None:
    from pydantic import SecretStr

    settings = Settings(data_dir=tmp_path, kommo_access_token=SecretStr("very-secret-token-1"))
    log = serve.setup_logging(settings, console=False)
    try:
        log.info("calling Kommo with very-secret-token-1")
    finally:
        for handler in logging.getLogger("kommo_analytics").handlers:
            handler.close()
    text = (tmp_path / "logs" / "serve.log").read_text()
    assert "very-secret-token-1" not in text and "calling Kommo with ***" in text
