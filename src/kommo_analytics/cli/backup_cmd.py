"""`kommo-analytics backup`: a consistent copy of the DuckDB warehouse, with retention."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from kommo_analytics.cli import values
from kommo_analytics.cli.errors import EXIT_ERROR, handle_errors
from kommo_analytics.service import account, backup
from kommo_analytics.settings import load_settings

console = Console()


def print_server_commands(commands: backup.ServerCommands) -> None:
    console.print(
        f"{escape(commands.display)} is a server database: kommo-analytics backup does not copy "
        "server databases. Back it up with the server's own tool (it asks for the password):",
        highlight=False,
        soft_wrap=True,
    )
    for line in commands.backup:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print("Restore such a dump with:", highlight=False)
    for line in commands.restore:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command(name="backup")
    @handle_errors
    def backup_command(
        keep: int = typer.Option(
            backup.DEFAULT_KEEP, "--keep", help="How many backups to keep; older ones are removed."
        ),
        to: Path | None = typer.Option(
            None, "--to", help="Folder for the backups (default: DATA_DIR/backups)."
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """Copy the DuckDB warehouse, consistently, into a private folder and keep the newest
        few. It waits for no sync: while one runs it stops and says so. MariaDB and PostgreSQL
        are not copied; the command prints their own dump commands instead."""
        settings = load_settings()
        target = account.target_for(settings, db)
        commands = backup.server_commands(target)
        if commands is not None:
            print_server_commands(commands)
            # Nothing was copied: a scheduled backup must not look like it succeeded.
            raise typer.Exit(EXIT_ERROR)

        def started(dest: Path) -> None:
            console.print(
                f"Backing up {escape(target.location)} to {escape(str(dest))}…",
                highlight=False,
                soft_wrap=True,
            )

        with console.status("copying the warehouse…"):
            done = backup.run(settings, target, keep=keep, folder=to, on_start=started)
        console.print(
            f"Backup written: {escape(str(done.path))} ({backup.human_size(done.size)}, "
            f"{done.seconds:.1f} s).",
            highlight=False,
            soft_wrap=True,
        )
        removed = f"; removed {len(done.removed)} older" if done.removed else ""
        console.print(
            f"{len(done.kept)} backup(s) kept in {escape(str(done.path.parent))} "
            f"(at most {keep}){removed}.",
            highlight=False,
            soft_wrap=True,
        )
