"""Entry point of the `kommo-analytics` command."""

from __future__ import annotations

import typer

from kommo_analytics import __version__
from kommo_analytics.cli import (
    dashboard_cmd,
    emulator_cmd,
    forecast_cmd,
    metrics_cmd,
    sync_cmd,
    users_cmd,
)
from kommo_analytics.cli.help import App

app = App(
    name="kommo-analytics",
    help="Business intelligence for the Kommo CRM: sync, warehouse, metrics and dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kommo-analytics {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Business intelligence for the Kommo CRM."""


emulator_cmd.register(app)
sync_cmd.register(app)
dashboard_cmd.register(app)
metrics_cmd.register(app)
forecast_cmd.register(app)
users_cmd.register(app)
