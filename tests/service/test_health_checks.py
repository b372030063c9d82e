"""The health checks one by one, on hand-built inputs: each level a check can reach."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pytest
from pydantic import SecretStr

from kommo_analytics.kommo.auth import TOKEN_FILE_NAME
from kommo_analytics.service import health_checks
from kommo_analytics.service.health_checks import (
    Check,
    HealthReport,
    Level,
    dashboard_check,
    setup_checks,
    token_check,
)
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse.target import parse_database_url

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _jwt(exp: datetime) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': int(exp.timestamp())})}.signature"


def _settings(tmp_path: Path, token: str | None = None) -> Settings:
    return Settings(
        data_dir=tmp_path,
        kommo_access_token=SecretStr(token) if token is not None else None,
        health_stale_warning_hours=2,
        health_stale_critical_hours=24,
    )


@pytest.mark.parametrize(
    ("days_left", "level", "key"),
    [
        (40, Level.OK, "check.token.ok"),
        (10, Level.WARNING, "check.token.kommo_access_token.soon"),
        (-1, Level.CRITICAL, "check.token.kommo_access_token.expired"),
    ],
)
def test_a_long_lived_token_is_warned_14_days_before_its_exp(
    tmp_path: Path, days_left: int, level: Level, key: str
) -> None:
    token = _jwt(NOW + timedelta(days=days_left, hours=1))
    check = token_check(_settings(tmp_path, token), NOW)
    assert (check.level, check.key) == (level, key)
    assert token not in json.dumps(check.values)  # a secret is never shown


def test_a_token_without_exp_is_ok_and_no_credentials_is_critical(tmp_path: Path) -> None:
    assert token_check(_settings(tmp_path, "opaque"), NOW).level is Level.OK
    assert token_check(_settings(tmp_path), NOW).key == "check.token.missing"
    assert token_check(_settings(tmp_path), NOW).level is Level.CRITICAL


@pytest.mark.parametrize(
    ("age_days", "level"), [(10, Level.OK), (80, Level.WARNING), (91, Level.CRITICAL)]
)
def test_the_oauth_refresh_token_lasts_three_months_from_the_last_refresh(
    tmp_path: Path, age_days: int, level: Level
) -> None:
    token_file = tmp_path / TOKEN_FILE_NAME
    token_file.write_text("{}")
    written = (NOW - timedelta(days=age_days)).timestamp()
    os.utime(token_file, (written, written))
    check = token_check(_settings(tmp_path), NOW)
    assert (check.level, check.subject) == (level, "OAuth")


class _Streams(NamedTuple):
    stream: str
    updated_at: datetime | None


def test_each_stream_is_judged_against_the_freshness_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        _Streams("leads", NOW - timedelta(hours=1)),
        _Streams("contacts", NOW - timedelta(hours=3)),
        _Streams("events", NOW - timedelta(hours=30)),
        _Streams("tasks", None),
    ]
    frame = pd.DataFrame(rows, columns=["stream", "updated_at"])
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    monkeypatch.setattr(health_checks.health, "streams", lambda target: frame)
    target = parse_database_url(f"duckdb:///{tmp_path / 'kommo.duckdb'}")
    found = {c.subject: c.level for c in health_checks._freshness(target, _settings(tmp_path), NOW)}
    assert found == {
        "leads": Level.OK,
        "contacts": Level.WARNING,
        "events": Level.CRITICAL,
        "tasks": Level.CRITICAL,
    }


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


@pytest.mark.parametrize(
    ("free", "level"), [(10_000, Level.OK), (2_000, Level.WARNING), (500, Level.CRITICAL)]
)
def test_free_disk_must_hold_three_times_the_warehouse_for_a_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, level: Level
) -> None:
    target = parse_database_url(f"duckdb:///{tmp_path / 'kommo.duckdb'}")
    assert target.sync_path is not None
    target.sync_path.parent.mkdir(parents=True, exist_ok=True)
    target.sync_path.write_bytes(b"x" * 1_000)
    monkeypatch.setattr(health_checks.shutil, "disk_usage", lambda path: _Usage(0, 0, free))
    assert health_checks._disk(target).level is level


def test_a_warehouse_folder_the_sync_may_not_write_is_critical(tmp_path: Path) -> None:
    target = parse_database_url(f"duckdb:///{tmp_path / 'wh' / 'kommo.duckdb'}")
    assert target.sync_path is not None
    target.sync_path.parent.mkdir(parents=True)
    assert health_checks._writable(target).level is Level.OK
    target.sync_path.parent.chmod(0o500)
    try:
        if os.access(target.sync_path.parent, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        check = health_checks._writable(target)
        assert (check.level, check.key) == (Level.CRITICAL, "check.writable.denied")
    finally:
        target.sync_path.parent.chmod(0o700)


def test_misspelt_settings_and_exposed_files_are_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMMO_ACESS_TOKEN", "x")
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    found = {c.check: c for c in setup_checks(data, f"duckdb:///{data / 'kommo.duckdb'}")}
    assert found["settings"].level is Level.WARNING
    assert found["settings"].values["suggestion"] == "KOMMO_ACCESS_TOKEN"
    assert found["files"].level is Level.WARNING
    assert "chmod" in found["files"].values["fix"]


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path == "/_stcore/health" else b""
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dashboard() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dashboard_answering_is_ok_and_a_missing_one_warns_only_when_asked_for(
    dashboard: str,
) -> None:
    assert dashboard_check(dashboard).key == "check.dashboard.ok"
    with ThreadingHTTPServer(("127.0.0.1", 0), _Health) as closed:
        free_port = closed.server_port
    down = f"http://127.0.0.1:{free_port}"
    assert dashboard_check(down).level is Level.WARNING
    assert dashboard_check(None).level is Level.OK


def test_the_report_takes_the_worst_level_and_its_exit_code() -> None:
    def report(*levels: Level) -> HealthReport:
        return HealthReport(NOW, tuple(Check("x", level, "check.files.ok") for level in levels))

    assert report().level.exit_code == 0
    assert report(Level.OK, Level.WARNING).level.exit_code == 1
    assert report(Level.CRITICAL, Level.WARNING, Level.OK).level.exit_code == 2
