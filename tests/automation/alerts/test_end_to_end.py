"""The issue's acceptance test: a failed sync produces one e-mail (to a local aiosmtpd server)
and one webhook call (to a local receiver); a second failure inside the cooldown produces none;
recovery produces one "resolved". Also `alerts test` and `alerts run` as commands."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from kommo_analytics.automation.alerts import evaluate_and_send
from kommo_analytics.automation.alerts.state import state_path
from kommo_analytics.cli.main import app
from kommo_analytics.settings import Settings
from tests.automation.alerts.conftest import Mailbox, Receiver

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET_PATH = "/services/T000/B000/very-secret-webhook-token"
runner = CliRunner()


def _warehouse(folder: Path) -> str:
    """A DuckDB warehouse holding only the sync's run log: all the sync trigger reads."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kommo.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA kommo_raw")
        con.execute(
            "CREATE TABLE kommo_raw.sync_runs (run_id TEXT, started_at TIMESTAMP, "
            "finished_at TIMESTAMP, status TEXT, mode TEXT, entities TEXT, rows_json TEXT, "
            "requests BIGINT, retries BIGINT, rate_limited BIGINT, refreshes BIGINT, "
            "error TEXT, warnings TEXT)"
        )
    return f"duckdb:///{path}"


def _add_run(url: str, run_id: str, started: datetime, status: str, error: str | None) -> None:
    with duckdb.connect(url.removeprefix("duckdb:///")) as con:
        con.execute(
            "INSERT INTO kommo_raw.sync_runs (run_id, started_at, finished_at, status, mode, "
            "error) VALUES (?, ?, ?, ?, 'incremental', ?)",
            [run_id, started.replace(tzinfo=None), started.replace(tzinfo=None), status, error],
        )


def _body(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _settings(tmp_path: Path, smtp: Mailbox, receiver: Receiver, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        report_language="en",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from="analytics@example.com",
        alert_emails="team@example.com",
        alert_webhook_urls=SecretStr(receiver.base + SECRET_PATH),
        alert_cooldown_hours=6,
        alert_triggers="sync_failed",
    )


def test_a_failed_sync_alerts_once_then_waits_the_cooldown_then_resolves(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = _warehouse(tmp_path / "wh")
    settings = _settings(tmp_path, smtp, receiver, url)
    _add_run(url, "r1", NOW - timedelta(hours=1), "failed", "Kommo answered 502 three times")

    first = evaluate_and_send(settings, NOW)
    assert [f.key for f in first.fired] == ["sync_failed"]
    assert [d.ok for d in first.deliveries] == [True, True]
    assert len(smtp.messages) == 1
    assert len(receiver.calls) == 1
    mail = smtp.messages[0]
    assert mail["Subject"] == "[Kommo Analytics] Critical: The sync failed"
    assert "Kommo answered 502 three times" in _body(mail)
    path, body = receiver.calls[0]
    assert path == SECRET_PATH
    assert set(body) == {"text", "subject", "source", "alerts"}  # 127.0.0.1: the generic JSON
    assert body["alerts"][0]["status"] == "new"

    # Another failed run an hour later: the same condition, inside the 6-hour cooldown.
    _add_run(url, "r2", NOW, "failed", "Kommo answered 502 again")
    second = evaluate_and_send(settings, NOW + timedelta(hours=1))
    assert [f.key for f in second.fired] == ["sync_failed"]
    assert second.sent == [] and second.deliveries == []
    assert (len(smtp.messages), len(receiver.calls)) == (1, 1)

    # The next run succeeds: one "resolved" on each channel.
    _add_run(url, "r3", NOW + timedelta(hours=2), "ok", None)
    third = evaluate_and_send(settings, NOW + timedelta(hours=2, minutes=5))
    assert third.fired == []
    assert [(s.key, s.status) for s in third.sent] == [("sync_failed", "resolved")]
    assert (len(smtp.messages), len(receiver.calls)) == (2, 2)
    assert smtp.messages[1]["Subject"] == "[Kommo Analytics] Resolved: The sync failed"
    assert receiver.calls[1][1]["alerts"][0]["status"] == "resolved"

    # Nothing more to say once it is resolved.
    fourth = evaluate_and_send(settings, NOW + timedelta(hours=12))
    assert fourth.sent == [] and (len(smtp.messages), len(receiver.calls)) == (2, 2)

    # The webhook's secret path is in no log line and not in the state file.
    state = state_path(settings.data_dir)
    assert SECRET_PATH not in caplog.text and "very-secret" not in state.read_text()
    assert "127.0.0.1" in caplog.text  # the channel is named, masked
    assert state.stat().st_mode & 0o777 == 0o600


def test_after_the_cooldown_a_condition_still_there_is_sent_as_still_failing(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver
) -> None:
    url = _warehouse(tmp_path / "wh")
    settings = _settings(tmp_path, smtp, receiver, url)
    _add_run(url, "r1", NOW - timedelta(hours=1), "failed", "boom")
    evaluate_and_send(settings, NOW)
    later = evaluate_and_send(settings, NOW + timedelta(hours=6))  # cooldown 6 h: due again
    assert [(s.key, s.status) for s in later.sent] == [("sync_failed", "repeat")]
    assert "still failing since" in smtp.messages[-1]["Subject"]
    assert len(receiver.calls) == 2


def test_news_nobody_received_is_retried_on_the_next_run(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver
) -> None:
    url = _warehouse(tmp_path / "wh")
    settings = _settings(tmp_path, smtp, receiver, url).model_copy(
        update={"smtp_port": 1, "alert_webhook_urls": SecretStr("http://127.0.0.1:1/x")}
    )
    _add_run(url, "r1", NOW - timedelta(hours=1), "failed", "boom")
    failed = evaluate_and_send(settings, NOW)
    assert (
        failed.failed
        and failed.sent == []
        and [d.ok for d in failed.deliveries]
        == [
            False,
            False,
        ]
    )
    fixed = _settings(tmp_path, smtp, receiver, url)
    retried = evaluate_and_send(fixed, NOW + timedelta(minutes=15))
    assert [(s.key, s.status) for s in retried.sent] == [("sync_failed", "new")]


def test_alerts_test_reports_each_channel_and_exits_1_when_one_fails(
    tmp_path: Path,
    smtp: Mailbox,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATA_DIR": str(tmp_path / "data"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "analytics@example.com",
        "ALERT_EMAILS": "team@example.com",
        "ALERT_WEBHOOK_URLS": f"{receiver.base}{SECRET_PATH},http://127.0.0.1:1/other-secret-path",
        "REPORT_LANGUAGE": "es",
    }.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "email: ok"
    assert lines[1] == f"webhook generic {receiver.base}/…: ok"
    assert lines[2].startswith("webhook generic http://127.0.0.1:1/…: failed — ")
    assert "check the URL's host" in lines[2]
    assert "secret" not in result.output
    assert smtp.messages[0]["Subject"] == "[Kommo Analytics] Mensaje de prueba"
    assert len(receiver.calls) == 1

    # Only working channels: exit 0. None at all: exit 1 saying what to set.
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", f"{receiver.base}{SECRET_PATH}")
    assert runner.invoke(app, ["alerts", "test"]).exit_code == 0
    for name in ("ALERT_EMAILS", "ALERT_WEBHOOK_URLS"):
        monkeypatch.delenv(name)
    empty = runner.invoke(app, ["alerts", "test"])
    assert empty.exit_code == 1 and "No alert channel is configured" in empty.output


def test_alerts_run_prints_the_outcome_as_json(
    tmp_path: Path, smtp: Mailbox, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = _warehouse(tmp_path / "wh")
    _add_run(url, "r1", datetime.now(UTC) - timedelta(hours=1), "interrupted", None)
    for name, value in {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": url,
        "ALERT_WEBHOOK_URLS": f"{receiver.base}{SECRET_PATH}",
        "ALERT_TRIGGERS": "sync_failed,quality_errors",
    }.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["alerts", "run", "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert doc["fired"] == [{"key": "sync_failed", "trigger": "sync_failed", "level": "warning"}]
    assert doc["sent"] == [{"key": "sync_failed", "status": "new", "level": "warning"}]
    assert doc["deliveries"][0]["ok"] is True
    # No data-quality check has run on this warehouse: nothing to alert on, and no error.
    assert "quality_errors" in doc["evaluated"] and "quality_errors" not in doc["errors"]
    assert SECRET_PATH not in result.output
