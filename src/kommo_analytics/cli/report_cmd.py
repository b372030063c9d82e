"""`kommo-analytics report weekly`: the weekly report as a PDF, and e-mailed with --send."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import LOCALES, Locale, t

CLI_LOCALE: Locale = "en"  # the command's own lines; the report is in --lang / REPORT_LANGUAGE
console = Console()


def parse_lang(value: str | None) -> Locale | None:
    if value is None:
        return None
    for code in LOCALES:
        if code.lower() == value.strip().replace("_", "-").lower():
            return code
    raise ConfigError(f"--lang {value!r} is not a report language",
                      hint=f"choose one of {', '.join(LOCALES)}")  # fmt: skip


def register(app: typer.Typer) -> None:
    sub = App(help="Reports made from the warehouse.", no_args_is_help=True)
    app.add_typer(sub, name="report")

    @sub.command("weekly")
    @handle_errors
    def weekly_command(
        week: str | None = typer.Option(
            None,
            "--week",
            help="ISO week, e.g. 2026-W20 (Monday to Sunday). Default: the last complete week "
            "in the account's time zone.",
        ),
        out: Path | None = typer.Option(
            None,
            "--out",
            help="Where to write the PDF. Default: kommo-weekly-<week>.pdf in the current folder.",
        ),
        send: bool = typer.Option(
            False,
            "--send",
            help="Also e-mail it (HTML with the PDF attached) to REPORT_EMAILS, through the "
            "SMTP_* settings.",
        ),
        lang: str | None = typer.Option(
            None, "--lang", help="pt-BR, es or en. Default: REPORT_LANGUAGE."
        ),
        as_of: str | None = typer.Option(
            None,
            "--as-of",
            help="The moment the report is made (ISO; default now): open and overdue figures, "
            "the month's forecast, and which week is the last complete one.",
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """The weekly report: KPIs against the week before and the targets, trend, funnel, top
        sellers, loss reasons, forecast and data quality, as a PDF (and an e-mail with --send)."""
        # Imported here: WeasyPrint and matplotlib would otherwise slow every command's start.
        from kommo_analytics.automation import weekly

        settings = load_settings()
        chosen = weekly.parse_week(week) if week is not None else None
        locale = parse_lang(lang)
        now = values.as_of(as_of) or datetime.now(UTC)
        with console.status(t("report.cli.building", CLI_LOCALE)):
            report = weekly.build_weekly(settings, chosen, now, database_url=db, locale=locale)
            pdf = weekly.render_pdf(report)
        path = weekly.write_pdf(pdf, out or Path.cwd() / report.file_name)
        console.print(
            t("report.cli.written", CLI_LOCALE, week=str(report.week), path=str(path)),
            markup=False,
            highlight=False,
        )
        if send:
            recipients = weekly.deliver(settings, report, pdf)
            console.print(
                t("report.cli.sent", CLI_LOCALE, recipients=", ".join(recipients)),
                markup=False,
                highlight=False,
            )


__all__ = ["parse_lang", "register"]
