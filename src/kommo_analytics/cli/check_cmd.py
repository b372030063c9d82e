"""`kommo-analytics check`: the data-quality rules, each with its severity, failing rows out of
checked rows, a score and a one-line message with the fix; the overall score. Each run is stored
(the Data health page shows the trend). Exit code 0 when no error-level rule fails, 1 when one
does, so a scheduler or a monitoring probe can act on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.tables import Column, table
from kommo_analytics.settings import load_settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import t

if TYPE_CHECKING:
    from kommo_analytics.service.quality import QualityRun

CLI_LOCALE: i18n.Locale = "en"
JSON_VERSION = 1  # bumped when a key of the document changes meaning or goes away


def to_json(run: QualityRun) -> dict[str, object]:
    return {
        "version": JSON_VERSION,
        "checked_at": run.checked_at.isoformat(),
        "score": run.score,
        "exit_code": run.exit_code,
        "rules": [
            {
                "rule": r.rule,
                "severity": str(r.severity),
                "status": r.status,
                "checked": r.checked,
                "failing": r.failing,
                "score": r.score,
                "message": t(r.message_key, CLI_LOCALE, **r.message_values(CLI_LOCALE)),
                "key": r.message_key,
                "values": r.values,
                "sample_lead_ids": list(r.sample_lead_ids),
            }
            for r in run.rules
        ],
        "sellers": [
            {
                "user_id": s.user_id,
                "name": s.name,
                "checked": s.checked,
                "failing": s.failing,
                "score": s.score,
            }
            for s in run.sellers
        ],
    }


def _score(value: float) -> str:
    return i18n.number(value, CLI_LOCALE)


def print_run(run: QualityRun, out: Console) -> None:
    columns: list[Column] = [
        (t("quality.col.rule", CLI_LOCALE), "left"),
        (t("quality.col.severity", CLI_LOCALE), "left"),
        (t("quality.col.failing", CLI_LOCALE), "right"),
        (t("quality.col.score", CLI_LOCALE), "right"),
        (t("quality.col.message", CLI_LOCALE), "left"),
    ]
    rows = [
        [
            t(f"quality.rule.{r.rule}", CLI_LOCALE),
            t(f"quality.severity.{r.severity}", CLI_LOCALE),
            f"{i18n.number(r.failing, CLI_LOCALE)} / {i18n.number(r.checked, CLI_LOCALE)}",
            _score(r.score),
            t(r.message_key, CLI_LOCALE, **r.message_values(CLI_LOCALE)),
        ]
        for r in run.rules
    ]
    out.print(table(t("quality.title", CLI_LOCALE), columns, rows))
    at = run.checked_at.strftime("%Y-%m-%d %H:%M UTC")
    out.print(t("quality.overall", CLI_LOCALE, score=_score(run.score), at=at), highlight=False)
    if run.errors:
        out.print(
            t("quality.exit.errors", CLI_LOCALE, count=len(run.errors)),
            style="red",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def check(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        no_reconcile: bool = typer.Option(
            False,
            "--no-reconcile",
            help="Skip counting sampled days' leads through the Kommo API (no API calls).",
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """Data-quality rules — won deals without a price, lost without a reason, unknown users,
        pipelines or stages, stage moves backwards, duplicate contacts, sync gaps, counts
        against the API and more — each with a score; stored for the trend. Exit code 0 when
        no error-level rule fails, 1 when one does."""
        from kommo_analytics.service.quality import run_checks

        run = run_checks(
            load_settings(), datetime.now(UTC), database_url=db, reconcile=not no_reconcile
        )
        if as_json:
            typer.echo(json.dumps(to_json(run), ensure_ascii=False, indent=2))
        else:
            print_run(run, Console())
        raise typer.Exit(run.exit_code)
