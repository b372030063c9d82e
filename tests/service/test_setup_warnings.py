"""The set-up warnings of the data-health model: files others can read, misspelt settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kommo_analytics.service import health

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _folder(path: Path, mode: int) -> Path:
    path.mkdir(parents=True)
    path.chmod(mode)
    return path


def _file(path: Path, mode: int) -> Path:
    path.write_text("x")
    path.chmod(mode)
    return path


def test_files_others_can_read_are_named_with_the_command_that_fixes_them(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", 0o755)
    duck = _file(data / "kommo.duckdb", 0o644)
    _file(data / "kpi_targets.json", 0o600)
    dlt = _folder(data / "dlt", 0o700)
    _file(dlt / "state.json", 0o640)  # group-readable is exposed too
    found = health.exposed_files(data, f"duckdb:///{duck}")
    assert found is not None
    assert found.paths == (data, duck, dlt / "state.json")
    assert found.fix == f"chmod 700 {data} && chmod 600 {duck} {dlt / 'state.json'}"


def test_a_warehouse_kept_elsewhere_is_checked_by_its_own_files_only(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", 0o700)
    shared = _folder(tmp_path / "shared", 0o755)  # a folder the user shares on purpose
    _file(shared / "notes.txt", 0o644)
    duck = _file(shared / "kommo.duckdb", 0o644)
    wal = _file(shared / "kommo.sync.duckdb.wal", 0o644)
    found = health.exposed_files(data, f"duckdb:///{duck}")
    assert found is not None
    assert found.paths == (duck, wal)
    assert found.fix == f"chmod 600 {duck} {wal}"


def test_private_files_and_a_server_warehouse_warn_of_nothing(tmp_path: Path) -> None:
    data = _folder(tmp_path / "data", 0o700)
    _file(data / "kommo_tokens.json", 0o600)
    assert health.exposed_files(data, "postgresql+psycopg://u:p@127.0.0.1/db") is None
    assert health.exposed_files(tmp_path / "missing", "not a url") is None
