"""`kommo-analytics worker`: runs the jobs `serve` puts on the queue of BROKER_URL, for every
account of the install (automation/queue.py; docs/operations.md, "Workers")."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape

from kommo_analytics import logs
from kommo_analytics.automation import queue
from kommo_analytics.automation.serve import setup_logging
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.errors import ConfigError
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import t
from kommo_analytics.text.languages import Locale

CLI_LOCALE: Locale = "en"
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def worker(
        threads: int = typer.Option(
            2,
            "--threads",
            min=1,
            max=64,
            help="Jobs this process runs at once (each a different account's, or a check).",
        ),
    ) -> None:
        """Run queued jobs: the syncs, checks, alerts and reports `serve` puts on the queue of
        BROKER_URL, for every account. Start as many as you like, on any machine that reaches
        the broker and the PostgreSQL warehouse. SIGTERM or Ctrl+C stops it after the running
        jobs; a worker killed outright has its job run again by another."""
        settings = load_settings()
        if settings.broker_url is None:
            raise ConfigError(
                "BROKER_URL is not set, so there is no queue to take jobs from",
                hint="set BROKER_URL (redis://host:6379/0 or amqp://user:password@host:5672/) "
                "here and for `kommo-analytics serve`; without it serve runs every job itself",
            )
        url = settings.broker_url.get_secret_value()
        address = queue.parse_broker_url(url)
        log = setup_logging(settings, name="worker")
        job_queue = queue.connect(url)
        where = logs.logs_dir(settings.data_dir)
        log.info(
            t(
                "worker.log.start",
                CLI_LOCALE,
                pid=os.getpid(),
                threads=threads,
                queue=address.queue,
                broker=address.display,
                logs=where,
            )
        )
        console.print(
            escape(
                t(
                    "worker.cli.started",
                    CLI_LOCALE,
                    threads=threads,
                    queue=address.queue,
                    broker=address.display,
                    logs=where,
                )
            ),
            highlight=False,
        )
        raise typer.Exit(queue.WorkerProcess(job_queue, threads, log).run_until_stopped())
