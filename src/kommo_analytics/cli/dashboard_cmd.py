"""`kommo-analytics dashboard`: serve the Streamlit dashboard.

Streamlit runs in a child process (`python -m streamlit run`, its public command line) rather
than through its internal bootstrap API; the warehouse URL reaches the app through an environment
variable, so `--db` needs no Streamlit-specific argument passing. Nothing here imports Streamlit:
every other command stays quick to start.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console

from kommo_analytics.cli import ports
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.dashboard import ENV_DATABASE_URL
from kommo_analytics.dashboard.theme import theme_options
from kommo_analytics.errors import ConfigError, KommoAnalyticsError
from kommo_analytics.service import account, users
from kommo_analytics.settings import load_settings

APP_PATH = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
STOP_TIMEOUT_SECONDS = 10

console = Console()


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # An installed package does not change while it is served: no file watcher, no reloads.
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        # Readers of the dashboard get no "Deploy" or developer menu.
        "--client.toolbarMode",
        "viewer",
        # The product's look, whatever folder the command runs from (see dashboard/theme.py).
        *theme_options(),
    ]


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything: treat it as reachable by others


def check_access(host: str, data_dir: Path) -> None:
    """Refuse to serve every seller's data to the network: off loopback, users must exist (they
    then have to sign in; with a users file they do so on loopback too)."""
    if is_loopback(host) or users.load(users.users_path(data_dir)):
        return
    raise ConfigError(
        f"the dashboard would be open to anyone who reaches {host}, and no users exist yet",
        hint="add one first with `kommo-analytics users add <name> --role admin` "
        "(or serve on --host 127.0.0.1)",
    )


def check_port_free(host: str, port: int, *, option: str = "--port") -> None:
    """Raise a ConfigError when the dashboard cannot be served on host:port."""
    ports.check_port_free(host, port, serving="the dashboard", option=option)


def serve_dashboard(
    *, host: str, port: int, database_url: str | None, port_option: str = "--port"
) -> None:
    """Serve the dashboard on http://host:port until interrupted (blocking).

    `database_url` None means DATABASE_URL or the default DuckDB file. A bad URL or a busy port
    raises a ConfigError before anything starts.
    """
    settings = load_settings()
    target = account.target(database_url or settings.resolved_database_url)
    check_access(host, settings.install_dir)
    check_port_free(host, port, option=port_option)
    # The absolute form: the app must read the very file named here, whatever its folder.
    env = {**os.environ, ENV_DATABASE_URL: target.url}
    console.print(
        f"Dashboard: [cyan]http://{host}:{port}[/] — data from [cyan]{target.display}[/] "
        "(Ctrl+C to stop)",
        highlight=False,
    )
    child = subprocess.Popen(streamlit_command(host, port), env=env)

    # A service manager stops us with SIGTERM: pass it on, or Streamlit would outlive us.
    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, forward) if in_main_thread else None
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl+C to Streamlit too; give it time to close its sessions.
        try:
            child.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        return
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise KommoAnalyticsError(
            f"the dashboard stopped with exit code {code}",
            hint=f"its messages are above; run with another {port_option} if the port was taken",
        )


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def dashboard(
        host: str = typer.Option(
            DEFAULT_HOST, "--host", help="Address to listen on (0.0.0.0 for every interface)."
        ),
        port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port."),
        db: str | None = typer.Option(
            None, "--db", help="Warehouse URL (default: DATABASE_URL or data/kommo.duckdb)."
        ),
    ) -> None:
        """Serve the dashboard in the browser (http://127.0.0.1:8501 by default).

        On any address but this machine's own it needs dashboard users (`kommo-analytics users
        add`); once users exist, everyone signs in.
        """
        serve_dashboard(host=host, port=port, database_url=db)
