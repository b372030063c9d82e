"""`kommo-analytics serve`: the dashboard and the scheduler in one long-running process, for a
server or a container (automation/serve.py). The dashboard is started as `kommo-analytics
dashboard` starts it, under the same rule: off loopback, only once users exist."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape

from kommo_analytics import logs
from kommo_analytics.automation import queue
from kommo_analytics.automation import serve as service
from kommo_analytics.cli import dashboard_cmd, values
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.service import account
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import t
from kommo_analytics.text.languages import Locale

CLI_LOCALE: Locale = "en"
console = Console(stderr=True)


def probe_url(host: str, port: int) -> str:
    """Where this machine reaches a dashboard served on host:port (every interface: loopback)."""
    name = host.strip().strip("[]")
    if name in ("0.0.0.0", "::", ""):  # compared, not bound to
        name = "127.0.0.1"
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def serve(
        no_dashboard: bool = typer.Option(
            False, "--no-dashboard", help="Run the scheduler only, without the dashboard."
        ),
        host: str = typer.Option(
            dashboard_cmd.DEFAULT_HOST,
            "--host",
            help="Dashboard address (0.0.0.0 for every interface: needs users).",
        ),
        port: int = typer.Option(
            dashboard_cmd.DEFAULT_PORT, "--port", min=1, max=65535, help="Dashboard port."
        ),
        db: str | None = typer.Option(None, "--db", help=values.DB_HELP),
    ) -> None:
        """Run unattended: the dashboard plus scheduled syncs (every SYNC_INTERVAL_MINUTES, a
        full one daily at FULL_SYNC_TIME), health and data-quality checks, alerts and the weekly
        report, one job at a time. With BROKER_URL set it puts these jobs on the queue for
        `kommo-analytics worker` processes instead, for every account. SIGTERM or Ctrl+C stops
        it after the running job."""
        settings = load_settings()
        error = settings.kommo_account_error()
        if error is not None:
            raise error
        child = None
        dashboard_url = None
        if not no_dashboard:
            target = account.target(db or settings.resolved_database_url)
            dashboard_cmd.check_access(host, settings.data_dir)
            dashboard_cmd.check_port_free(host, port)
            child = service.Child(
                dashboard_cmd.streamlit_command(host, port),
                {**os.environ, ENV_DATABASE_URL: target.url},
            )
            dashboard_url = probe_url(host, port)
            console.print(
                escape(
                    t("serve.cli.dashboard", CLI_LOCALE, host=host, port=port, where=target.display)
                ),
                highlight=False,
            )
        enqueue = None
        if settings.broker_url is not None:
            # Workers run the jobs: this process only plans them, for every account.
            job_queue = queue.connect(settings.broker_url.get_secret_value())

            def enqueue(name: str, planned: service.Planned) -> None:
                job_queue.send(planned.name, name, then_if_ok=planned.then_if_ok, then=planned.then)

        built = service.build_service(
            settings, database_url=db, child=child, dashboard_url=dashboard_url, enqueue=enqueue
        )
        console.print(
            escape(t("serve.cli.started", CLI_LOCALE, logs=logs.logs_dir(settings.data_dir))),
            highlight=False,
        )
        raise typer.Exit(built.run_until_stopped())
