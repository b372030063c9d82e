"""The health checks behind `kommo-analytics health`: each a level (ok, warning, critical) and a
message, said with the fix, as a catalogue key and its values. Built on the data-health reads
of :mod:`service.health`, the same ones the dashboard's Data health page shows."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

import httpx
import pandas as pd

from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.kommo.auth import jwt_expiry, token_file_for
from kommo_analytics.service import health
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target, parse_database_url

TOKEN_WARNING_DAYS: Final = 14
# Kommo's refresh token lasts three months and is replaced by every refresh, which rewrites the
# token file: the file's age is the refresh token's.
REFRESH_TOKEN_DAYS: Final = 90
PUBLISH_SPACE_FACTOR: Final = 3  # the private file, the copy being published, the served one
DEFAULT_DASHBOARD_URL: Final = "http://127.0.0.1:8501"
DASHBOARD_TIMEOUT_SECONDS: Final = 3.0


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def exit_code(self) -> int:
        return {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2}[self]


@dataclass(frozen=True)
class Check:
    """One finding: ``check`` names what was checked, ``subject`` what of it (a stream, a
    setting), ``key`` the catalogue message and ``values`` its placeholders."""

    check: str
    level: Level
    key: str
    values: dict[str, str] = field(default_factory=dict)
    subject: str = ""


@dataclass(frozen=True)
class HealthReport:
    checked_at: datetime
    checks: tuple[Check, ...]

    @property
    def level(self) -> Level:
        order = list(Level)
        return max((c.level for c in self.checks), key=order.index, default=Level.OK)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age_level(age: timedelta, settings: Settings) -> Level:
    hours = age.total_seconds() / 3600
    if hours > settings.health_stale_critical_hours:
        return Level.CRITICAL
    if hours > settings.health_stale_warning_hours:
        return Level.WARNING
    return Level.OK


def warehouse_checks(url: str, data_dir: Path, settings: Settings, now: datetime) -> list[Check]:
    """Reachable, writable, room to publish, the last run and each stream's freshness."""
    state = health.probe(url)
    if state.status is health.Status.UNREADABLE:
        error = state.error.one_line() if state.error is not None else ""
        return [Check("warehouse", Level.CRITICAL, "check.warehouse.unreadable", {"error": error})]
    if state.status is health.Status.EMPTY:
        return [Check("warehouse", Level.CRITICAL, "check.warehouse.empty", {"where": state.where})]
    target = parse_database_url(url)
    found = [Check("warehouse", Level.OK, "check.warehouse.ok", {"where": state.where})]
    found.append(_writable(target))
    found.append(_disk(target))
    found.append(_last_run(target, data_dir, now))
    found += _freshness(target, settings, now)
    return found


def _writable(target: Target) -> Check:
    if target.sync_path is not None and target.serving_path is not None:
        # DuckDB: the sync writes its private file and replaces the served one beside it;
        # opening the file to try would wait for (or block) a running sync.
        folders = {target.sync_path.parent, target.serving_path.parent}
        paths = [p for p in (target.sync_path, target.serving_path) if p.exists()]
        denied = [
            str(p)
            for p in [*sorted(folders), *paths]
            if not os.access(p, os.W_OK | (os.X_OK if p.is_dir() else 0))
        ]
        if denied:
            return Check(
                "writable", Level.CRITICAL, "check.writable.denied", {"paths": ", ".join(denied)}
            )
        return Check("writable", Level.OK, "check.writable.ok")
    try:
        # Asks the server whether this user may change the tables, and changes nothing.
        with reader.connect(target, write=True) as con:
            cur = con.cursor()
            # SQL text: a raw table's qualified name; no user value.
            cur.execute(f"DELETE FROM {target.qualified('sync_runs')} WHERE 1 = 0")  # nosec B608
            con.rollback()
    except KommoAnalyticsError as exc:
        return Check("writable", Level.CRITICAL, "check.writable.error", {"error": exc.one_line()})
    return Check("writable", Level.OK, "check.writable.ok")


def _disk(target: Target) -> Check:
    if target.sync_path is None or target.serving_path is None:
        return Check("disk", Level.OK, "check.disk.server")
    size = sum(
        p.stat().st_size
        for p in (target.sync_path, target.sync_path.with_name(target.sync_path.name + ".wal"))
        if p.exists()
    )
    free = shutil.disk_usage(target.sync_path.parent).free
    values = {
        "free": f"{free / 2**30:.1f}",
        "size": f"{size / 2**30:.2f}",
        "needed": f"{PUBLISH_SPACE_FACTOR * size / 2**30:.1f}",
        "where": str(target.sync_path.parent),
    }
    if free < size:
        return Check("disk", Level.CRITICAL, "check.disk.critical", values)
    if free < PUBLISH_SPACE_FACTOR * size:
        return Check("disk", Level.WARNING, "check.disk.warning", values)
    return Check("disk", Level.OK, "check.disk.ok", values)


def _last_run(target: Target, data_dir: Path, now: datetime) -> Check:
    frame = health.runs(target, 1, data_dir=data_dir)
    if frame.empty:
        return Check("last_sync", Level.CRITICAL, "check.last_sync.none")
    run = frame.iloc[0]
    started = run["started_at"]
    values = {"at": _stamp(started) if not pd.isna(started) else "?"}
    status = str(run["status"])
    if status == "ok":
        return Check("last_sync", Level.OK, "check.last_sync.ok", values)
    if status == health.RUNNING:
        return Check("last_sync", Level.OK, "check.last_sync.running", values)
    if status == health.INTERRUPTED:
        return Check("last_sync", Level.WARNING, "check.last_sync.interrupted", values)
    error = run["error"]
    values["error"] = str(error) if isinstance(error, str) and error else status
    return Check("last_sync", Level.CRITICAL, "check.last_sync.failed", values)


def _freshness(target: Target, settings: Settings, now: datetime) -> list[Check]:
    frame = health.streams(target)
    found = []
    for stream, updated in zip(frame["stream"], frame["updated_at"], strict=True):
        if pd.isna(updated):
            found.append(
                Check("freshness", Level.CRITICAL, "check.freshness.never", subject=str(stream))
            )
            continue
        age = now - updated.to_pydatetime()
        level = _age_level(age, settings)
        values = {
            "hours": _hours(age),
            "warning": f"{settings.health_stale_warning_hours:g}",
            "critical": f"{settings.health_stale_critical_hours:g}",
        }
        found.append(Check("freshness", level, f"check.freshness.{level}", values, str(stream)))
    return found


def token_check(settings: Settings, now: datetime) -> Check:
    """The long-lived token's `exp`, else the OAuth refresh token's age; warned ahead."""
    ahead = timedelta(days=TOKEN_WARNING_DAYS)
    if settings.kommo_access_token is not None:
        exp = jwt_expiry(settings.kommo_access_token.get_secret_value())
        if exp is None:
            return Check("token", Level.OK, "check.token.no_expiry", subject="KOMMO_ACCESS_TOKEN")
        expires = datetime.fromtimestamp(exp, UTC)
        subject = "KOMMO_ACCESS_TOKEN"
    else:
        token_file = token_file_for(settings)
        if not token_file.exists():
            return Check("token", Level.CRITICAL, "check.token.missing")
        written = datetime.fromtimestamp(token_file.path.stat().st_mtime, UTC)
        expires = written + timedelta(days=REFRESH_TOKEN_DAYS)
        subject = "OAuth"
    values = {"at": _stamp(expires), "days": f"{(expires - now).days}"}
    if expires <= now:
        return Check(
            "token", Level.CRITICAL, f"check.token.{subject.lower()}.expired", values, subject
        )
    if expires - now <= ahead:
        return Check("token", Level.WARNING, f"check.token.{subject.lower()}.soon", values, subject)
    return Check("token", Level.OK, "check.token.ok", values, subject)


def setup_checks(data_dir: Path, url: str) -> list[Check]:
    """Misspelt settings and exposed files: the Data health page's set-up warnings."""
    warnings = health.setup_warnings(data_dir, url)
    found = []
    for item in warnings.unknown_settings:
        values = {"name": item.name, "where": item.source, "suggestion": item.suggestion or ""}
        key = "check.setting.typo" if item.suggestion else "check.setting.unknown"
        found.append(Check("settings", Level.WARNING, key, values, item.name))
    if not warnings.unknown_settings:
        found.append(Check("settings", Level.OK, "check.setting.ok"))
    if warnings.exposed is not None:
        values = {
            "paths": ", ".join(str(p) for p in warnings.exposed.paths),
            "fix": warnings.exposed.fix,
        }
        found.append(Check("files", Level.WARNING, "check.files.exposed", values))
    else:
        found.append(Check("files", Level.OK, "check.files.ok"))
    return found


def dashboard_check(url: str | None) -> Check:
    """Whether a dashboard answers at ``url``; not running counts only when it was asked for
    (None: the default address, looked at in passing)."""
    asked = url is not None
    address = (url or DEFAULT_DASHBOARD_URL).rstrip("/")
    values = {"url": address}
    try:
        response = httpx.get(f"{address}/_stcore/health", timeout=DASHBOARD_TIMEOUT_SECONDS)
        answered = response.status_code == 200
        values["status"] = str(response.status_code)
    except httpx.HTTPError:
        answered = False
        values["status"] = ""
    if answered:
        return Check("dashboard", Level.OK, "check.dashboard.ok", values)
    if asked:
        return Check("dashboard", Level.WARNING, "check.dashboard.down", values)
    return Check("dashboard", Level.OK, "check.dashboard.not_asked", values)


def check_health(
    settings: Settings,
    *,
    database_url: str | None = None,
    now: datetime | None = None,
    dashboard_url: str | None = None,
) -> HealthReport:
    """Every check, in a fixed order (the JSON document's)."""
    now = now or datetime.now(UTC)
    url = database_url or settings.resolved_database_url
    found = warehouse_checks(url, settings.data_dir, settings, now)
    found.append(token_check(settings, now))
    found += setup_checks(settings.data_dir, url)
    found.append(dashboard_check(dashboard_url))
    return HealthReport(now, tuple(found))
