"""`kommo-analytics emulator` and `kommo-analytics demo`: serve the synthetic Kommo account."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from kommo_analytics.cli import ports
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.emulator.config import SCALES, EmulatorConfig, FaultSpec, LiveConfig, Quirks
from kommo_analytics.errors import EmulatorError
from kommo_analytics.kommo.entities import API_PREFIX

console = Console()

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# `demo` serves two things; its --port is the emulator's, so the dashboard's has its own name.
DASHBOARD_PORT_OPTION = "--dashboard-port"


def _check_port_free(host: str, port: int) -> None:
    ports.check_port_free(host, port, serving="the emulator")


def serve(
    *,
    host: str,
    port: int,
    seed: int,
    scale: str,
    faults: str | None,
    live: bool,
    live_interval: float,
    rate_limit: float,
    block_after: int,
    dump: Path | None,
    title: str,
    token_ttl: int = 86400,
    quirks: str | None = None,
    country: str = "BR",
) -> None:
    if scale not in SCALES:
        raise EmulatorError(f"unknown scale {scale!r}", hint=f"use one of: {', '.join(SCALES)}")
    fault_spec = FaultSpec.parse(faults)
    quirk_spec = Quirks.parse(quirks)
    from kommo_analytics.emulator.generator.profiles import profile_for

    profile = profile_for(country)
    if dump is None:
        _check_port_free(host, port)

    # Imported here so that `kommo-analytics --help` stays fast.
    import uvicorn

    from kommo_analytics.emulator.app import create_app
    from kommo_analytics.emulator.generator import build_account
    from kommo_analytics.emulator.state import get_state

    started = time.perf_counter()
    with console.status(f"Generating the {scale} demo account (seed {seed})…"):
        store = build_account(seed=seed, scale=scale, country=profile.country)
    counts = {t: store.count(t) for t in ("users", "leads", "contacts", "events", "tasks", "notes")}
    console.print(
        f"[green]✓[/] account generated in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{n:,} {t}" for t, n in counts.items())
    )

    if dump is not None:
        with console.status(f"Writing the ground truth to {dump}…"):
            files = store.dump(dump)
        console.print(f"[green]✓[/] wrote {len(files)} Parquet files to {dump}")
        return

    config = EmulatorConfig(
        seed=seed,
        rate_limit_per_second=rate_limit,
        block_after_violations=block_after if block_after > 0 else None,
        access_token_ttl=token_ttl,
        faults=fault_spec,
        quirks=quirk_spec,
        live=LiveConfig(interval_seconds=live_interval) if live else None,
    )
    app = create_app(store, config)
    state = get_state(app)
    base = f"http://{host}:{port}"
    token = state.tokens.demo_token
    code = state.tokens.issue_auth_code()
    # Printed without a panel and with soft wrapping so that tokens stay copyable in one piece.
    lines = [
        f"[bold]{title}[/] serving a {scale} account at [cyan]{base}[/] "
        f"({profile.country}: {profile.currency}, {profile.timezone})",
        "",
        "Long-lived token (no refresh needed):",
        f"  [yellow]{token}[/]",
        "",
        "Try it:",
        f"  curl -H 'Authorization: Bearer {token}' '{base}{API_PREFIX}/leads?limit=250&page=1'",
        "",
        f"OAuth client_id:     {config.client_id}",
        f"OAuth client_secret: {config.client_secret}",
        f"OAuth redirect_uri:  {config.redirect_uri}",
        f"Authorization code (single use, valid {config.auth_code_ttl // 60} min):",
        f"  {code}",
        f"More codes: curl -X POST {base}/_emulator/auth-code",
        "",
        f"Rate limit {rate_limit:g} req/s; faults: {fault_spec.describe()}; "
        f"quirks: {quirk_spec.describe()}; "
        f"live mode: {'on' if live else 'off'}",
        "Press Ctrl+C to stop.",
    ]
    console.rule("Kommo API v4 emulator")
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, date_header=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def emulator(
        host: str = typer.Option(DEFAULT_HOST, help="Address to listen on."),
        port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
        seed: int = typer.Option(1, help="Seed of the synthetic account (same seed, same data)."),
        scale: str = typer.Option("small", help="small (~2k leads), medium (~50k) or large (~1M)."),
        faults: str | None = typer.Option(None, help=f"Fault switches: {FaultSpec.SYNTAX}."),
        quirks: str | None = typer.Option(
            None,
            help=f"Shapes only some accounts send, comma-separated: {', '.join(Quirks.names())}.",
        ),
        live: bool = typer.Option(False, help="Keep changing the account while serving it."),
        live_interval: float = typer.Option(2.0, help="Seconds between live changes."),
        rate_limit: float = typer.Option(7.0, help="Requests per second before a 429."),
        block_after: int = typer.Option(
            30, help="429s within a minute before the sticky 403 block (0 = never block)."
        ),
        token_ttl: int = typer.Option(
            86400, min=1, help="Lifetime in seconds of OAuth access tokens (Kommo: 86400)."
        ),
        dump: Path | None = typer.Option(
            None, help="Write the account's ground truth as Parquet to this folder and exit."
        ),
        country: str = typer.Option(
            "BR",
            help="The account's country, which sets its currency, time zone and price scale: "
            "BR (BRL, America/Sao_Paulo), MX (MXN, America/Mexico_City), CO (COP, "
            "America/Bogota) or AR (ARS, America/Argentina/Buenos_Aires).",
        ),
    ) -> None:
        """Serve a synthetic Kommo account through a faithful API v4 emulator."""
        serve(
            host=host,
            port=port,
            seed=seed,
            scale=scale,
            faults=faults,
            live=live,
            live_interval=live_interval,
            rate_limit=rate_limit,
            block_after=block_after,
            dump=dump,
            title="Kommo emulator",
            token_ttl=token_ttl,
            quirks=quirks,
            country=country,
        )

    @app.command()
    @handle_errors
    def demo(
        port: int = typer.Option(DEFAULT_PORT, help="Port of the demo account's API."),
        keep_serving: bool = typer.Option(
            False, "--serve", help="Keep serving the demo account after the sync."
        ),
        rate_limit: float = typer.Option(
            7.0,
            help="Requests per second the demo account allows (Kommo: 7). The sync's own pace "
            "is KOMMO_RATE_LIMIT_PER_SECOND.",
        ),
        dashboard: bool = typer.Option(
            True, "--dashboard/--no-dashboard", help="End by serving the dashboard."
        ),
        dashboard_port: int = typer.Option(
            8501, DASHBOARD_PORT_OPTION, help="Port of the dashboard."
        ),
    ) -> None:
        """Run the demo: a Kommo account synced into the warehouse, then the dashboard.

        With no Kommo credentials configured, a synthetic account is served on localhost by
        the emulator and synced with progress bars. With credentials (KOMMO_BASE_URL and a
        token in .env), your real account is synced instead. Then the dashboard is served on
        http://localhost:8501 until Ctrl+C.
        """
        run_demo(
            port=port,
            keep_serving=keep_serving,
            rate_limit=rate_limit,
            dashboard_port=dashboard_port if dashboard else None,
        )


def run_demo(
    *, port: int, keep_serving: bool, rate_limit: float = 7.0, dashboard_port: int | None = 8501
) -> None:
    from pydantic import SecretStr

    from kommo_analytics.cli.dashboard_cmd import check_port_free, serve_dashboard
    from kommo_analytics.cli.sync_cmd import sync_with_progress
    from kommo_analytics.settings import load_settings
    from kommo_analytics.sync.engine import SyncOptions

    settings = load_settings()
    if dashboard_port is not None:
        # Before the sync, not after a minute of it.
        check_port_free(DEFAULT_HOST, dashboard_port, option=DASHBOARD_PORT_OPTION)
    if settings.has_kommo_credentials:
        console.print(f"Kommo credentials found: syncing [cyan]{settings.kommo_base_url}[/]")
        sync_with_progress(settings, SyncOptions(), None)
        if dashboard_port is not None:
            serve_dashboard(
                host=DEFAULT_HOST,
                port=dashboard_port,
                database_url=None,
                port_option=DASHBOARD_PORT_OPTION,
            )
        return
    if settings.has_any_kommo_setting:
        # Half of an account's settings means the person meant their account: syncing the demo
        # one instead would hide the missing half.
        account_error = settings.kommo_account_error()
        assert account_error is not None
        raise account_error

    from kommo_analytics.emulator.app import create_app
    from kommo_analytics.emulator.generator import build_account
    from kommo_analytics.emulator.server import serve_in_thread
    from kommo_analytics.emulator.state import get_state

    _check_port_free(DEFAULT_HOST, port)
    with console.status("Generating the demo account (synthetic data, seed 1)…"):
        store = build_account(seed=1, scale="small")
    # By default the demo keeps Kommo's real limit: it shows what syncing a real account is like.
    app = create_app(store, EmulatorConfig(seed=1, rate_limit_per_second=rate_limit))
    state = get_state(app)
    with serve_in_thread(app, DEFAULT_HOST, port) as base:
        console.print(
            f"No Kommo account configured: syncing the [bold]demo account[/] served by the "
            f"emulator at [cyan]{base}[/] (set KOMMO_BASE_URL and a token in .env for yours)",
            highlight=False,
        )
        demo_settings = settings.model_copy(
            update={
                "kommo_base_url": base,
                "kommo_access_token": SecretStr(state.tokens.demo_token),
            }
        )
        sync_with_progress(demo_settings, SyncOptions(), None)
        if dashboard_port is not None:
            if keep_serving:
                console.print(
                    f"The demo account stays served at {base}; token: {state.tokens.demo_token}",
                    soft_wrap=True,
                    highlight=False,
                )
            serve_dashboard(
                host=DEFAULT_HOST,
                port=dashboard_port,
                database_url=None,
                port_option=DASHBOARD_PORT_OPTION,
            )
        elif keep_serving:
            console.print(
                f"Serving the demo account at {base}; token: {state.tokens.demo_token}",
                soft_wrap=True,
                highlight=False,
            )
            console.print("Press Ctrl+C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
