"""`model` and `metrics` in a folder with no synced data: one line naming the absolute path looked
at and what to run, and nothing left behind on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["model"], ["metrics"], ["metrics", "--json"]])
def test_no_synced_data_names_the_absolute_path_and_what_to_run(
    clean_env: Path, command: list[str]
) -> None:
    result = runner.invoke(app, command)
    assert result.exit_code != 0
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert str(clean_env / "data" / "kommo.duckdb") in line
    assert "no synced data" in line
    assert "`kommo-analytics sync`" in line and "./scripts/demo.sh" in line
    # Neither the sync's private file nor the other command is the way out.
    assert "kommo.sync.duckdb" not in line
    assert "kommo-analytics model" not in line and "kommo-analytics metrics" not in line
    assert list(clean_env.rglob("*")) == []


def test_a_relative_database_url_is_shown_absolute(clean_env: Path) -> None:
    result = runner.invoke(app, ["metrics", "--db", "duckdb:///elsewhere/w.duckdb"])
    assert str(clean_env / "elsewhere" / "w.duckdb") in result.stderr
    assert list(clean_env.rglob("*")) == []
