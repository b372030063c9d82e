"""`kommo-analytics accounts add|list|remove|test`: the Kommo accounts of one install.

A token is never a command-line argument (other users of the machine read those in `ps`): it is
typed without echo, or read from standard input with `--token-stdin`.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from kommo_analytics.cli import tables
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.errors import ConfigError
from kommo_analytics.service import accounts
from kommo_analytics.settings import Settings

console = Console()


def _base_settings() -> Settings:
    # The install's settings, whatever --account chose: the register is the install's.
    return accounts.install_settings()


def _secret(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        value = sys.stdin.readline().strip()
        if not value:
            raise ConfigError(
                "nothing on standard input",
                hint="pipe it in, e.g. `printf '%s\\n' \"$TOKEN\" | kommo-analytics accounts "
                "add … --token-stdin`",
            )
        return value
    typed: str = typer.prompt(prompt, hide_input=True)
    return typed.strip()


def register(app: typer.Typer) -> None:
    sub = App(help="The Kommo accounts of this install (agencies: one install, many accounts).",
              no_args_is_help=True)  # fmt: skip
    app.add_typer(sub, name="accounts")

    @sub.command()
    @handle_errors
    def add(
        name: str = typer.Argument(..., help="A short name: lower-case letters, digits and _."),
        url: str = typer.Option(
            ..., "--url", help="The account's address, e.g. https://acme.kommo.com"
        ),
        oauth: bool = typer.Option(
            False, "--oauth", help="OAuth keys instead of a long-lived token (asked for in turn)."
        ),
        client_id: str | None = typer.Option(
            None, "--client-id", help="OAuth: the integration's ID."
        ),
        redirect_uri: str | None = typer.Option(
            None, "--redirect-uri", help="OAuth: its redirect URI."
        ),
        display_name: str | None = typer.Option(
            None, "--display-name", help="A name for people (default: Kommo's)."
        ),
        token_stdin: bool = typer.Option(
            False,
            "--token-stdin",
            help="Read the token (or the client secret) from standard input.",
        ),
        no_test: bool = typer.Option(False, "--no-test", help="Do not reach the account now."),
    ) -> None:
        """Add an account: its secrets stay in its own folder, readable by you only."""
        token = secret = None
        if oauth:
            secret = _secret(token_stdin, "Client secret")
        else:
            token = _secret(token_stdin, "Long-lived token")
        entry, reported = accounts.add(
            _base_settings(),
            name,
            base_url=url,
            token=token,
            client_id=client_id,
            client_secret=secret,
            redirect_uri=redirect_uri,
            display_name=display_name,
            test=not no_test,
        )
        console.print(f"[green]✓[/] added {entry.label} ({entry.name}), {entry.base_url}")
        if reported is not None:
            console.print(
                f"  Kommo says: time zone {reported.timezone or '?'}, currency "
                f"{reported.currency or '?'}"
            )
        if oauth:
            console.print(
                f"  next: `kommo-analytics --account {name} auth --code <code>` with the "
                "authorization code from Kommo, then `kommo-analytics accounts test "
                f"{name}`"
            )
        console.print(f"  sync it with `kommo-analytics --account {name} sync`")

    @sub.command("list")
    @handle_errors
    def list_() -> None:
        """The accounts of this install, the one of .env first."""
        found = accounts.rows(_base_settings())
        if not found:
            console.print(
                "no accounts yet: add one with `kommo-analytics accounts add <name> --url …`"
            )
            return
        tables.print_table(
            console,
            "Accounts",
            [
                ("Name", "left"),
                ("Display name", "left"),
                ("Address", "left"),
                ("Auth", "left"),
                ("Time zone", "left"),
                ("Currency", "left"),
                ("Warehouse", "left"),
            ],
            [
                [
                    r.name,
                    r.label,
                    r.base_url or "—",
                    r.auth,
                    r.timezone or "—",
                    r.currency or "—",
                    r.warehouse,
                ]
                for r in found
            ],
        )

    @sub.command()
    @handle_errors
    def test(name: str = typer.Argument(..., help="The account's name.")) -> None:
        """Reach the account with its credentials; record its time zone and currency."""
        reported = accounts.test(_base_settings(), name)
        console.print(
            f"[green]✓[/] {name}: reached {reported.name or reported.subdomain or 'the account'} — "
            f"time zone {reported.timezone or '?'}, currency {reported.currency or '?'}"
        )

    @sub.command()
    @handle_errors
    def remove(
        name: str = typer.Argument(..., help="The account's name."),
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    ) -> None:
        """Remove an account and all of its data (its warehouse and its folder), nothing else."""
        if not yes:
            typer.confirm(f"Delete the account {name!r} and all of its synced data?", abort=True)
        entry = accounts.remove(_base_settings(), name)
        console.print(f"[green]✓[/] removed {entry.label} ({entry.name}) and its data")
