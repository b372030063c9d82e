"""`kommo-analytics logs`: the last lines of a log under DATA_DIR/logs/, and optionally the new
ones as they are written (across a rotation). Lines are masked again on the way out: cron's
log holds the commands' own output, which no logging filter saw."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import typer

from kommo_analytics import logs
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import t
from kommo_analytics.text.languages import Locale

CLI_LOCALE: Locale = "en"
FOLLOW_STEP_SECONDS = 0.5


def available(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.log")) if folder.is_dir() else []


def follow(path: Path, *, step: float = FOLLOW_STEP_SECONDS) -> None:
    """Print lines appended to ``path`` until interrupted; a rotated file is reopened."""
    handle = path.open("rb")
    handle.seek(0, 2)
    inode = path.stat().st_ino
    partial = b""
    try:
        while True:
            chunk = handle.read()
            if chunk:
                partial += chunk
                *complete, partial = partial.split(b"\n")
                for line in complete:
                    typer.echo(logs.mask(line.decode("utf-8", errors="replace")))
                continue
            time.sleep(step)
            try:
                now = path.stat()
            except FileNotFoundError:
                continue  # between the rotation's rename and the next message
            if now.st_ino != inode or now.st_size < handle.tell():
                handle.close()
                handle = path.open("rb")
                inode = now.st_ino
    finally:
        handle.close()


def register(app: typer.Typer) -> None:
    @app.command(name="logs")
    @handle_errors
    def logs_command(
        lines: int = typer.Option(50, "-n", "--lines", min=0, help="How many recent lines."),
        follow_: bool = typer.Option(
            False, "--follow", "-f", help="Keep printing new lines until Ctrl+C."
        ),
        name: str = typer.Option(
            "serve", "--file", help="Which log: serve, sync, cron (the files in DATA_DIR/logs)."
        ),
    ) -> None:
        """Show the recent lines of a log in DATA_DIR/logs (serve's by default), secrets
        masked."""
        settings = load_settings()
        logs.register_secrets(logs.secret_values(settings))
        folder = logs.logs_dir(settings.data_dir)
        path = logs.log_file(settings.data_dir, Path(name).stem)
        if not path.is_file():
            there = available(folder)
            raise ConfigError(
                t("logs.none", CLI_LOCALE, name=name, path=path),
                hint=t("logs.available", CLI_LOCALE, names=", ".join(there))
                if there
                else "`kommo-analytics serve` writes serve.log, a sync writes sync.log, "
                "`kommo-analytics schedule install` makes cron write cron.log",
            )
        for line in logs.tail(path, lines):
            typer.echo(logs.mask(line))
        if follow_:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a follow ends
                follow(path)
