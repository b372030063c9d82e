"""`kommo-analytics health`: each check's level, the exit code, the JSON document, and runs that
were killed shown (and, by the next sync, recorded) as interrupted rather than running."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app
from kommo_analytics.service import health
from kommo_analytics.sync.lock import sync_lock
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import parse_database_url
from tests.sync.harness import account, duckdb_url, sync

runner = CliRunner()


@pytest.fixture
def calm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freshness targets the synced account's clock (not today's) meets, and a token with no
    expiry: everything a test does not look at reads ok."""
    monkeypatch.setenv("HEALTH_STALE_WARNING_HOURS", "1000000")
    monkeypatch.setenv("HEALTH_STALE_CRITICAL_HOURS", "2000000")
    monkeypatch.setenv("KOMMO_ACCESS_TOKEN", "not-a-jwt")


def _url(folder: Path) -> str:
    return f"duckdb:///{folder / 'kommo.duckdb'}"


def _add_running_run(folder: Path, run_id: str = "killed") -> None:
    """What a sync killed mid-run leaves: its first `sync_runs` row, still `running`."""
    target = parse_database_url(_url(folder))
    store = Warehouse(target, folder)
    store.execute(
        f"INSERT INTO {target.qualified('sync_runs')} (run_id, started_at, status, mode, "
        "rows_json, requests, retries, rate_limited, refreshes) "  # nosec B608
        f"VALUES ('{run_id}', TIMESTAMP '2026-01-01 10:00:00', 'running', 'incremental', "
        "'{}', 0, 0, 0, 0)"
    )
    store.publish()


def _statuses(folder: Path) -> dict[str, str]:
    frame = health.runs(parse_database_url(_url(folder)), data_dir=folder)
    return dict(zip(frame["run_id"], frame["status"], strict=True))


def _health(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, ["health", "--json", *args])
    assert result.stdout.startswith("{"), (result.stdout, result.stderr, result.exception)
    return result.exit_code, json.loads(result.stdout)


def _check(doc: dict[str, object], name: str) -> dict[str, str]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    found = [c for c in checks if c["check"] == name]
    assert found, f"no check {name} in {[c['check'] for c in checks]}"
    return found[0]


# -- interrupted runs ---------------------------------------------------------------------------


def test_a_running_row_whose_writer_lock_is_free_reads_as_interrupted(warehouse: Path) -> None:
    _add_running_run(warehouse)
    assert _statuses(warehouse)["killed"] == "interrupted"


def test_a_running_row_whose_writer_lock_is_held_reads_as_running(
    warehouse: Path, calm: None
) -> None:
    _add_running_run(warehouse)
    target = parse_database_url(_url(warehouse))
    with sync_lock(backend_for(target).lock_path(warehouse)):
        assert _statuses(warehouse)["killed"] == "running"
        code, doc = _health()
    assert _check(doc, "last_sync")["level"] == "ok"
    assert code == 0, doc


def test_the_next_sync_records_the_killed_run_as_interrupted(
    synced_dir: Path, tmp_path: Path
) -> None:
    base = tmp_path / "copy"
    shutil.copytree(synced_dir / "warehouse", base / "warehouse")
    _add_running_run(base / "warehouse")
    assert sync(account(seed=3), base, duckdb_url(base)).status == "ok"
    target = parse_database_url(duckdb_url(base))
    rows = dict(
        Warehouse(target, base / "data").query(
            f"SELECT run_id, status FROM {target.qualified('sync_runs')}"  # nosec B608
        )
    )
    assert rows["killed"] == "interrupted"
    assert "running" not in rows.values()


def test_health_reports_an_interrupted_last_run_as_a_warning(warehouse: Path, calm: None) -> None:
    _add_running_run(warehouse)
    # Newest of all, so it is the last run.
    target = parse_database_url(_url(warehouse))
    store = Warehouse(target, warehouse)
    store.execute(
        f"UPDATE {target.qualified('sync_runs')} SET started_at = now() "  # nosec B608
        "WHERE run_id = 'killed'"
    )
    store.publish()
    code, doc = _health()
    check = _check(doc, "last_sync")
    assert check["level"] == "warning"
    assert "interrupted" in check["message"]
    assert code == 1


# -- levels and exit codes ----------------------------------------------------------------------


def test_a_healthy_warehouse_exits_0_with_a_table_of_checks(warehouse: Path, calm: None) -> None:
    result = runner.invoke(app, ["health"])
    assert result.exit_code == 0, result.stdout
    for line in ("warehouse", "writable", "disk", "last_sync", "freshness", "token", "dashboard"):
        assert line in result.stdout
    assert "leads" in result.stdout  # one freshness row per stream


def test_streams_older_than_the_critical_target_exit_2(
    warehouse: Path, calm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_STALE_WARNING_HOURS", "0.0001")
    monkeypatch.setenv("HEALTH_STALE_CRITICAL_HOURS", "0.0002")
    code, doc = _health()
    assert code == 2
    assert doc["level"] == "critical"
    assert _check(doc, "freshness")["level"] == "critical"
    assert "kommo-analytics sync" in _check(doc, "freshness")["message"]


def test_the_json_document_is_stable(warehouse: Path, calm: None) -> None:
    code, doc = _health()
    assert set(doc) == {"version", "checked_at", "level", "exit_code", "checks"}
    assert doc["exit_code"] == code
    checks = doc["checks"]
    assert isinstance(checks, list)
    for check in checks:
        assert set(check) == {"check", "subject", "level", "message", "key", "values"}
        assert check["level"] in ("ok", "warning", "critical")
        assert "{" not in check["message"]  # every placeholder filled
    order = [c["check"] for c in checks]
    assert order[:4] == ["warehouse", "writable", "disk", "last_sync"]
    assert order[-4:] == ["token", "settings", "files", "dashboard"]


def test_no_warehouse_is_critical(clean_env: Path, calm: None) -> None:
    code, doc = _health("--db", f"duckdb:///{clean_env / 'none' / 'kommo.duckdb'}")
    assert code == 2
    assert _check(doc, "warehouse")["level"] == "critical"
    assert not (clean_env / "none").exists()  # looking creates nothing
