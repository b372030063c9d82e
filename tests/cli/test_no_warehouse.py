"""`model` and `metrics` in a folder with no synced data: one line naming the absolute path looked
at and what to run, and nothing left behind on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()


@pytest.fixture
def fresh_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("KOMMO_") or name in ("DATABASE_URL", "DATA_DIR"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", [["model"], ["metrics"], ["metrics", "--json"]])
def test_no_synced_data_names_the_absolute_path_and_what_to_run(
    fresh_folder: Path, command: list[str]
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code != 0
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert str(fresh_folder / "data" / "kommo.duckdb") in line
    assert "no synced data" in line
    assert "`kommo-analytics sync`" in line and "./scripts/demo.sh" in line
    # Neither the sync's private file nor the other command is the way out.
    assert "kommo.sync.duckdb" not in line
    assert "kommo-analytics model" not in line and "kommo-analytics metrics" not in line
    assert list(fresh_folder.rglob("*")) == []


def test_a_relative_database_url_is_shown_absolute(fresh_folder: Path) -> None:
    result = runner.invoke(app, ["metrics", "--db", "duckdb:///elsewhere/w.duckdb"])
    assert str(fresh_folder / "elsewhere" / "w.duckdb") in result.stderr
    assert list(fresh_folder.rglob("*")) == []
