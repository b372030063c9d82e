from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kommo_analytics import __version__
from kommo_analytics.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"kommo-analytics {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("emulator", "demo"):
        assert command in result.stdout


def test_a_bad_fault_spec_is_one_line_with_the_syntax_and_exit_code_1() -> None:
    result = runner.invoke(app, ["emulator", "--faults", "latency=fast"])
    assert result.exit_code == 1
    assert "bad fault switch 'latency=fast'" in result.stderr
    assert "--faults takes" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unknown_scale_names_the_choices() -> None:
    result = runner.invoke(app, ["emulator", "--scale", "huge"])
    assert result.exit_code == 1
    assert "unknown scale 'huge'" in result.stderr
    assert "small, medium, large" in result.stderr


def test_a_misspelt_setting_is_one_warning_line_on_stderr_for_any_command(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text("KOMMO_ACESS_TOKEN=tok\n")
    monkeypatch.setenv("DATABASE_ULR", "duckdb:///elsewhere.duckdb")
    result = runner.invoke(app, ["metrics"])
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert lines == [
        "warning: not a setting, so ignored: KOMMO_ACESS_TOKEN in .env (did you mean "
        "KOMMO_ACCESS_TOKEN?), DATABASE_ULR in the environment (did you mean DATABASE_URL?) — "
        "fix the name; the settings are listed in .env.example"
    ]
    assert "warning:" not in result.stdout
    # The command itself still runs and says what is really wrong: no data in the default file.
    assert result.exit_code != 0 and "no synced data" in result.stderr
