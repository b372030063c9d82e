"""`kommo-analytics alerts test|run`: try every alert channel, or evaluate the triggers once
(for cron; `serve` runs the same evaluation on its schedule)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import t

CLI_LOCALE: i18n.Locale = "en"

alerts_app = App(
    help="Alerts by e-mail, webhook and Telegram: test the channels, evaluate the triggers.",
    no_args_is_help=True,
)


@alerts_app.command("test")
@handle_errors
def test_command() -> None:
    """Send a test message to every configured channel and say which worked. Exit code 1 when
    one failed or none is configured."""
    from kommo_analytics.automation.alerts import send_test

    deliveries = send_test(load_settings())
    if not deliveries:
        typer.echo(t("alerts.cli.none", CLI_LOCALE), err=True)
        raise typer.Exit(1)
    for d in deliveries:
        if d.ok:
            typer.echo(f"{d.channel}: {t('alerts.cli.ok', CLI_LOCALE)}")
        else:
            typer.echo(f"{d.channel}: {t('alerts.cli.failed', CLI_LOCALE)} — {d.error} — {d.hint}")
    raise typer.Exit(1 if any(not d.ok for d in deliveries) else 0)


@alerts_app.command("run")
@handle_errors
def run_command(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
) -> None:
    """Evaluate every alert trigger once and send what is new, still failing after the
    cooldown, or resolved. Exit code 1 when a trigger could not be evaluated or a delivery
    failed."""
    from kommo_analytics.automation.alerts import evaluate_and_send

    outcome = evaluate_and_send(load_settings(), datetime.now(UTC), database_url=db)
    if as_json:
        typer.echo(json.dumps(outcome.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(
            t(
                "alerts.cli.fired",
                CLI_LOCALE,
                count=len(outcome.fired),
                sent=len(outcome.sent),
            )
        )
        for f in outcome.fired:
            typer.echo(f"  {f.level}: {f.key}")
        for d in outcome.deliveries:
            status = t("alerts.cli.ok" if d.ok else "alerts.cli.failed", CLI_LOCALE)
            detail = "" if d.ok else f" — {d.error} — {d.hint}"
            typer.echo(f"{d.channel}: {status}{detail}")
        for trigger, reason in outcome.skipped.items():
            typer.echo(t("alerts.cli.skipped", CLI_LOCALE, trigger=trigger, reason=reason))
        for trigger, error in outcome.errors.items():
            typer.echo(
                t("alerts.cli.trigger_error", CLI_LOCALE, trigger=trigger, error=error), err=True
            )
        if outcome.no_channel:
            typer.echo(t("alerts.cli.none", CLI_LOCALE), err=True)
    raise typer.Exit(1 if outcome.failed else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
