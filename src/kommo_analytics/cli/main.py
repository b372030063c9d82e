"""Entry point of the `kommo-analytics` command."""

from __future__ import annotations

import os

import typer

from kommo_analytics import __version__, files
from kommo_analytics.cli import (
    accounts_cmd,
    alerts_cmd,
    backup_cmd,
    check_cmd,
    consolidated_cmd,
    dashboard_cmd,
    emulator_cmd,
    forecast_cmd,
    health_cmd,
    logs_cmd,
    metrics_cmd,
    report_cmd,
    schedule_cmd,
    serve_cmd,
    sync_cmd,
    users_cmd,
    worker_cmd,
)
from kommo_analytics.cli.help import App
from kommo_analytics.settings import UnknownSetting, unknown_settings

app = App(
    name="kommo-analytics",
    help="Business intelligence for the Kommo CRM: sync, warehouse, metrics and dashboard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def describe_unknown(found: list[UnknownSetting]) -> str:
    """One line for all of them: a typo in .env must not scroll the real output away."""
    parts = []
    for item in found:
        where = "the environment" if item.source == "environment" else item.source
        guess = f" (did you mean {item.suggestion}?)" if item.suggestion else ""
        parts.append(f"{item.name} in {where}{guess}")
    return (
        f"warning: not a setting, so ignored: {', '.join(parts)} — fix the name; the settings "
        "are listed in .env.example"
    )


def _put_back(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kommo-analytics {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    account: str | None = typer.Option(
        None,
        "--account",
        "-a",
        help="Which account of `accounts list` to work on (default: the one of .env).",
        envvar="KOMMO_ACCOUNT",
    ),
) -> None:
    """Business intelligence for the Kommo CRM."""
    if account:
        # Through the environment, so that every setting read of this command and of the
        # processes it starts (the dashboard, a sync from the dashboard) is this account's;
        # put back when the command ends, for a caller that runs several in one process.
        before = os.environ.get("KOMMO_ACCOUNT")
        os.environ["KOMMO_ACCOUNT"] = account
        ctx.call_on_close(lambda: _put_back("KOMMO_ACCOUNT", before))
    # Whatever the shell's umask, what a command writes (the warehouse, tokens, the dashboard's
    # targets, since its process inherits this) is readable by this user only.
    files.restrict_umask()
    found = unknown_settings()
    if found:
        typer.echo(describe_unknown(found), err=True)


emulator_cmd.register(app)
accounts_cmd.register(app)
sync_cmd.register(app)
dashboard_cmd.register(app)
metrics_cmd.register(app)
consolidated_cmd.register(app)
forecast_cmd.register(app)
users_cmd.register(app)
backup_cmd.register(app)
health_cmd.register(app)
alerts_cmd.register(app)
serve_cmd.register(app)
worker_cmd.register(app)
schedule_cmd.register(app)
logs_cmd.register(app)
report_cmd.register(app)
check_cmd.register(app)
