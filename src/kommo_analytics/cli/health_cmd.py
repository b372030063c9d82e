"""`kommo-analytics health`: is everything a sync and the dashboard need in order? One line per
check with its fix; the exit code is the worst level (0 ok, 1 warning, 2 critical), so a
scheduler or a monitoring probe can act on it."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.tables import Column, table
from kommo_analytics.service.health_checks import HealthReport, check_health
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import t

CLI_LOCALE: i18n.Locale = "en"
JSON_VERSION = 1  # bumped when a key of the document changes meaning or goes away


def to_json(report: HealthReport) -> dict[str, object]:
    return {
        "version": JSON_VERSION,
        "checked_at": report.checked_at.isoformat(),
        "level": str(report.level),
        "exit_code": report.level.exit_code,
        "checks": [
            {
                "check": c.check,
                "subject": c.subject,
                "level": str(c.level),
                "message": t(c.key, CLI_LOCALE, **c.values),
                "key": c.key,
                "values": c.values,
            }
            for c in report.checks
        ],
    }


def print_report(report: HealthReport, out: Console) -> None:
    # One table, the message column folding: split into parts (tables.print_table) the
    # messages would sit apart from their checks.
    columns: list[Column] = [
        (t("checks.col.check", CLI_LOCALE), "left"),
        (t("checks.col.subject", CLI_LOCALE), "left"),
        (t("checks.col.level", CLI_LOCALE), "left"),
        (t("checks.col.message", CLI_LOCALE), "left"),
    ]
    rows = [
        [
            c.check,
            c.subject,
            t(f"checks.level.{c.level}", CLI_LOCALE),
            t(c.key, CLI_LOCALE, **c.values),
        ]
        for c in report.checks
    ]
    out.print(table(t("checks.title", CLI_LOCALE), columns, rows))


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def health(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        dashboard_url: str | None = typer.Option(
            None,
            "--dashboard-url",
            help="Require a dashboard answering here (default: look at http://127.0.0.1:8501 "
            "and only say whether one answers).",
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """Last sync and each stream's age against the freshness targets, the warehouse
        reachable and writable, free disk, token expiry, set-up warnings and the dashboard.
        Exit code 0 ok, 1 warning, 2 critical."""
        report = check_health(load_settings(), database_url=db, dashboard_url=dashboard_url)
        if as_json:
            typer.echo(json.dumps(to_json(report), ensure_ascii=False, indent=2))
        else:
            print_report(report, Console())
        raise typer.Exit(report.level.exit_code)
