"""What the CLI prints for a failure is the text as written: square brackets (TOML's
`[[channel]]`, a file named `[old].toml`, a seller called "[Ana]") are not taken for Rich markup."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from kommo_analytics.cli import errors
from kommo_analytics.cli.main import app
from kommo_analytics.cli.tables import print_table
from kommo_analytics.errors import ConfigError

runner = CliRunner()


def test_an_errors_square_brackets_are_printed_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = Console(record=True, width=300)
    monkeypatch.setattr(errors, "err_console", console)

    @errors.handle_errors
    def fail() -> None:
        raise ConfigError("[old].toml: bad", hint='write "[[channel]]", not "[channel]"')

    with pytest.raises(typer.Exit):
        fail()
    assert console.export_text().strip() == (
        'error: [old].toml: bad — write "[[channel]]", not "[channel]"'
    )


def test_a_bad_channel_rules_file_shows_its_hint_whole(clean_env: Path) -> None:
    rules = clean_env / "rules.toml"
    rules.write_text('[channel]\nkey = "paid"\n')
    result = runner.invoke(
        app, ["channels"], env={"CHANNEL_RULES_FILE": str(rules), "COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert 'write "[[channel]]", not "[channel]", above every rule' in result.stderr


def test_table_cells_keep_their_square_brackets() -> None:
    console = Console(record=True, width=120)
    print_table(console, "Sellers", [("name", "left")], [["[Ana] Souza"], ["[bold]x"]])
    text = console.export_text()
    assert "[Ana] Souza" in text and "[bold]x" in text
