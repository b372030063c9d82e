"""`kommo-analytics sync` and `kommo-analytics auth`."""

from __future__ import annotations

import asyncio
import sys
import time

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kommo_analytics import logs
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.errors import ConfigError
from kommo_analytics.service import health
from kommo_analytics.settings import Settings, load_settings
from kommo_analytics.sync.engine import SyncOptions, SyncResult
from kommo_analytics.sync.nulls import describe
from kommo_analytics.sync.progress import LogReporter, RichReporter
from kommo_analytics.sync.streams import STREAM_NAMES, parse_streams

console = Console()


def print_summary(
    result: SyncResult, settings: Settings, database_url: str | None, took: float
) -> None:
    table = Table(title=f"Sync {result.mode} — {result.status}", title_justify="left")
    table.add_column("stream")
    table.add_column("rows", justify="right")
    table.add_column("requests", justify="right")
    for name in sorted(set(result.rows) | set(result.requests)):
        table.add_row(name, f"{result.rows.get(name, 0):,}", f"{result.requests.get(name, 0):,}")
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(describe(warning))}", highlight=False)
    total = sum(result.requests.values())
    console.print(
        f"{total:,} requests in {took:.1f} s ({total / max(took, 1e-6):.1f}/s).", highlight=False
    )
    url = database_url or settings.resolved_database_url
    where, how = health.where_data_lives(url)
    console.print(f"Data: [cyan]{escape(where)}[/] ({escape(how)})", highlight=False)
    exposed = health.exposed_files(settings.data_dir, url)
    if exposed is not None:
        console.print(f"[yellow]warning:[/] {escape(describe_exposed(exposed))}", highlight=False)


def describe_exposed(exposed: health.ExposedFiles, shown: int = 3) -> str:
    paths = exposed.paths
    names = ", ".join(str(p) for p in paths[:shown]) + (", …" if len(paths) > shown else "")
    return (
        f"other users of this computer can read or change {len(paths)} of the project's files "
        f"or folders ({names}), which hold lead and contact names — make them private: "
        f"{exposed.fix}"
    )


def sync_with_progress(
    settings: Settings, options: SyncOptions, database_url: str | None
) -> SyncResult:
    from kommo_analytics.service.after_sync import AFTER_BUILD, AFTER_UNCHANGED
    from kommo_analytics.sync.runner import run_sync

    # The sync's log (dlt, the drivers) rotates as the settings say and masks their secrets.
    logs.configure(
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        secrets=logs.secret_values(settings),
    )
    started = time.perf_counter()
    reporter: RichReporter | LogReporter
    if console.is_terminal:
        reporter = RichReporter(console)
    else:
        reporter = LogReporter(lambda line: print(line, flush=True))
    with reporter:
        result = run_sync(
            settings,
            options,
            reporter,
            database_url=database_url,
            after_build=AFTER_BUILD,
            after_unchanged=AFTER_UNCHANGED,
        )
    print_summary(result, settings, database_url, time.perf_counter() - started)
    return result


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def sync(
        full: bool = typer.Option(
            False, "--full", help="Read the whole history again instead of what changed."
        ),
        entities: str | None = typer.Option(
            None,
            "--entities",
            help=f"Only these streams, comma-separated: {', '.join(STREAM_NAMES)} — the names "
            "the progress shows. The dictionaries are read in every run; leads in the trash are "
            "deleted_leads.",
        ),
        db: str | None = typer.Option(
            None, "--db", help="Warehouse URL (default: DATABASE_URL or data/kommo.duckdb)."
        ),
        overlap: int = typer.Option(
            600, min=0, help="Seconds re-read before each watermark, to catch late writes."
        ),
    ) -> None:
        """Copy the Kommo account into the warehouse: everything once, then what changed."""
        settings = load_settings()
        account_error = settings.kommo_account_error()
        if account_error is not None:
            raise account_error
        options = SyncOptions(full=full, streams=parse_streams(entities), overlap_seconds=overlap)
        sync_with_progress(settings, options, db)

    @app.command()
    @handle_errors
    def auth(
        code: str | None = typer.Option(
            None, "--code", help="Authorization code (default: KOMMO_AUTH_CODE)."
        ),
    ) -> None:
        """Exchange an OAuth authorization code for tokens, kept in DATA_DIR (mode 0600)."""
        import httpx

        from kommo_analytics.kommo.auth import exchange_code, token_file_for
        from kommo_analytics.kommo.ratelimit import shared_limiter

        settings = load_settings()
        missing = [
            name
            for name, value in (
                ("KOMMO_BASE_URL", settings.kommo_base_url),
                ("KOMMO_CLIENT_ID", settings.kommo_client_id),
                ("KOMMO_CLIENT_SECRET", settings.kommo_client_secret),
                ("KOMMO_REDIRECT_URI", settings.kommo_redirect_uri),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"missing setting(s): {', '.join(missing)}",
                hint="copy them from your integration's Keys and scopes tab in Kommo into .env",
            )
        the_code = code or (
            settings.kommo_auth_code.get_secret_value() if settings.kommo_auth_code else None
        )
        if not the_code:
            raise ConfigError(
                "no authorization code given",
                hint="copy one from the integration's Keys and scopes tab (valid 20 minutes) "
                "and pass --code <code> or set KOMMO_AUTH_CODE",
            )
        assert settings.kommo_base_url and settings.kommo_client_id
        assert settings.kommo_client_secret and settings.kommo_redirect_uri
        token_file = token_file_for(settings)

        async def main() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                await exchange_code(
                    http,
                    base_url=settings.kommo_base_url or "",
                    client_id=settings.kommo_client_id or "",
                    client_secret=(
                        settings.kommo_client_secret.get_secret_value()
                        if settings.kommo_client_secret
                        else ""
                    ),
                    redirect_uri=settings.kommo_redirect_uri or "",
                    code=the_code or "",
                    token_file=token_file,
                    limiter=shared_limiter(
                        settings.kommo_rate_limit_per_second,
                        settings.kommo_base_url or "",
                        settings.resolved_limiter_url,
                    ),
                )

        asyncio.run(main())
        console.print(
            f"[green]✓[/] tokens saved to {token_file.path} — run `kommo-analytics sync`",
            highlight=False,
        )
        if sys.stdout.isatty():
            console.print("The authorization code is now used up; you will not need it again.")
