"""`kommo-analytics schedule install|show|remove`: serve's jobs as tagged crontab entries
(automation/cron.py), for people who prefer cron to a long-running process."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from kommo_analytics.automation import cron
from kommo_analytics.automation.serve import account_zone
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import t
from kommo_analytics.text.languages import Locale

CLI_LOCALE: Locale = "en"


def project_folder() -> Path:
    """The folder cron must start in: this one, where `.env` is read."""
    return Path.cwd().absolute()


def register(app: typer.Typer) -> None:
    schedule = App(
        name="schedule",
        help="Run the syncs, checks, alerts and weekly report from your crontab instead of "
        "`kommo-analytics serve`.",
        no_args_is_help=True,
    )
    app.add_typer(schedule, name="schedule")

    @schedule.command()
    @handle_errors
    def install() -> None:
        """Add (or replace) this project's entries in your crontab; every other line stays as
        it was. Run it from the project folder: the entries start there, so .env is read."""
        settings = load_settings()
        cron.crontab_path()  # the missing command is said before anything else is read
        folder = project_folder()
        system = datetime.now().astimezone().tzinfo
        assert system is not None
        made = cron.install_entries(
            settings,
            folder=folder,
            command=cron.executable(),
            zone_of=account_zone,
            system_zone=system,
            today=datetime.now(account_zone(settings)).date(),
        )
        typer.echo(cron.install(settings, folder=folder, made=made), nl=False)
        typer.echo(t("schedule.installed", CLI_LOCALE, count=made.jobs))
        for local, account, converted in made.converted:
            typer.echo(
                t(
                    "schedule.zone",
                    CLI_LOCALE,
                    system=datetime.now().astimezone().tzname(),
                    local=local,
                    zone=account,
                    converted=converted,
                )
            )

    @schedule.command()
    @handle_errors
    def show() -> None:
        """Print this project's entries in your crontab."""
        folder = project_folder()
        found = cron.show(folder)
        if found:
            typer.echo(found, nl=False)
        else:
            typer.echo(t("schedule.none", CLI_LOCALE, folder=folder))

    @schedule.command()
    @handle_errors
    def remove() -> None:
        """Take this project's entries out of your crontab, and nothing else."""
        folder = project_folder()
        if cron.remove(folder):
            typer.echo(t("schedule.removed", CLI_LOCALE))
        else:
            typer.echo(t("schedule.none", CLI_LOCALE, folder=folder))
