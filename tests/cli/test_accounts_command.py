"""`kommo-analytics accounts …` and the global `--account`."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()


def test_add_list_remove(clean_env: Path) -> None:
    token = "secret-token-123"
    added = runner.invoke(
        app,
        ["accounts", "add", "acme", "--url", "https://acme.kommo.com", "--token-stdin",
         "--display-name", "Acme Brasil", "--no-test"],
        input=f"{token}\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added Acme Brasil (acme)" in added.output
    assert token not in added.output

    listed = runner.invoke(app, ["accounts", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "Acme Brasil" in listed.output and "https://acme.kommo.com" in listed.output
    assert token not in listed.output

    removed = runner.invoke(app, ["accounts", "remove", "acme", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert not (clean_env / "data" / "accounts" / "acme").exists()


def test_an_unknown_account_is_one_line_naming_the_known_ones(clean_env: Path) -> None:
    runner.invoke(
        app,
        ["accounts", "add", "acme", "--url", "https://acme.kommo.com", "--token-stdin", "--no-test"],
        input="t\n",
    )  # fmt: skip
    assert "KOMMO_ACCOUNT" not in os.environ
    result = runner.invoke(app, ["--account", "nope", "health"])
    assert result.exit_code == 2
    assert "no account named 'nope' (accounts: acme)" in result.output
    assert "Traceback" not in result.output
    # The option reaches the processes a command starts through the environment, and is put
    # back when the command ends: the next command of this process works on its own account.
    assert "KOMMO_ACCOUNT" not in os.environ


def test_no_token_on_stdin_is_refused(clean_env: Path) -> None:
    result = runner.invoke(
        app,
        ["accounts", "add", "acme", "--url", "https://acme.kommo.com", "--token-stdin", "--no-test"],
        input="\n",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "nothing on standard input" in result.output
