"""Every command's `--help` as a person reads it, in a narrow and a wide terminal."""

from __future__ import annotations

import itertools
import re

import pytest
import typer
from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()


def _commands() -> list[list[str]]:
    """Every command line that has a help page: the app, its commands, their subcommands."""
    group = typer.main.get_group(app)
    ctx = typer.Context(group)
    found: list[list[str]] = [[]]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append([name])
        if isinstance(command, typer.core.TyperGroup):
            found += [[name, sub] for sub in command.list_commands(ctx)]
    return found


COMMANDS = _commands()
BOX = re.compile(r"[│╭╰]")


def _help(command: list[str], width: int) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_covered() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {"sync", "demo", "metrics", "emulator", "costs import", "goals import"} <= names


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "app")
def test_flags_show_no_type_placeholder(command: list[str], width: int) -> None:
    text = _help(command, width)
    assert "--help" in text
    # A flag takes no value, so nothing may look like one after it.
    for flag in ("--help", "--full", "--json", "--serve", "--dashboard", "--version"):
        for line in text.splitlines():
            if flag in line:
                after = line.split(flag, 1)[1]
                assert not re.match(r"\s+(--no-\S+\s+)?<", after), line
    assert "<bool>" not in text


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "app")
def test_help_paragraphs_fill_the_width_and_never_overflow(command: list[str], width: int) -> None:
    lines = _help(command, width).splitlines()
    assert all(len(line) <= width for line in lines)
    # The prose above the option panels: a line may end early only where a paragraph ends,
    # i.e. when the next line's first word would not have fitted on it.
    prose: list[str] = []
    for line in lines:
        if BOX.search(line):
            break
        prose.append(line.rstrip())
    for this, following in itertools.pairwise(prose):
        if this.strip() and following.strip() and not following.lstrip().startswith("Usage"):
            first_word = following.split()[0]
            assert len(this) + 1 + len(first_word) > width - 2, (this, following)
