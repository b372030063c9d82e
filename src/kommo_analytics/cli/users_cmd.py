"""`kommo-analytics users add|remove|passwd|list|link`: who may sign in to the dashboard.

Passwords are never command-line arguments (other users of the machine read those in `ps`):
they are typed twice without echo, or read from standard input with `--password-stdin`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from kommo_analytics.cli import tables
from kommo_analytics.cli.errors import handle_errors
from kommo_analytics.cli.help import App
from kommo_analytics.errors import ConfigError
from kommo_analytics.service import account, names, users
from kommo_analytics.settings import load_settings

console = Console()

FROM_STDIN_HELP = "Read the password from the first line of standard input (for scripts)."


def _path() -> Path:
    return users.users_path(load_settings().install_dir)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise ConfigError(
                "no password on standard input",
                hint="pipe the password in, e.g. `printf '%s\\n' \"$PW\" | kommo-analytics "
                "users passwd <name> --password-stdin`",
            )
        return password
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed


def _kommo_ids(values: list[str], db: str | None) -> list[int]:
    """Kommo users named by id, name or e-mail, resolved against the warehouse's users."""
    target = account.target_for(load_settings(), db)
    known = names.users(target)
    if not known:
        raise ConfigError(
            f"no Kommo users are known in {target.display} yet",
            hint="run `kommo-analytics sync` first (or pass --db with the synced warehouse)",
        )
    try:
        return names.sellers(target, values)
    except ConfigError as exc:
        listed = ", ".join(f"{u.name or u.email or '?'} ({u.id})" for u in known)
        raise ConfigError(exc.message, hint=f"give an id or a name; known: {listed}") from None


def register(app: typer.Typer) -> None:
    sub = App(help="Dashboard users: who may sign in, their role and their Kommo users.",
              no_args_is_help=True)  # fmt: skip
    app.add_typer(sub, name="users")

    @sub.command()
    @handle_errors
    def add(
        username: str = typer.Argument(..., help="The name to sign in with."),
        role: str = typer.Option(
            ..., "--role", help="admin (everything), manager (all data, no settings) or seller."
        ),
        email: str | None = typer.Option(None, "--email", help="E-mail address (optional)."),
        kommo_user: list[str] = typer.Option(
            [], "--kommo-user", help="A Kommo user (id or name) this user is; repeatable."
        ),
        db: str | None = typer.Option(None, "--db", help="Warehouse to look Kommo users up in."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help=FROM_STDIN_HELP),
    ) -> None:
        """Add a dashboard user. The first one should be an admin."""
        if role not in users.ROLES:
            raise ConfigError(
                f"unknown role {role!r}", hint=f"choose one of {', '.join(users.ROLES)}"
            )
        path = _path()
        users.normalise_username(username)
        if users.find(path, username) is not None:
            raise ConfigError(
                f"the user {username.strip().lower()!r} already exists",
                hint="`kommo-analytics users passwd` changes a password",
            )
        ids = _kommo_ids(kommo_user, db) if kommo_user else []
        user = users.add(
            path, username, role, _password(password_stdin), email=email, kommo_user_ids=ids
        )
        console.print(f"Added [bold]{user.username}[/] ({user.role}) to {path}", highlight=False)
        if user.role == "seller" and not user.kommo_user_ids:
            console.print(
                f"[yellow]note:[/] a seller sees nothing until linked: "
                f"`kommo-analytics users link {user.username} <Kommo user>`",
                highlight=False,
            )

    @sub.command()
    @handle_errors
    def remove(username: str = typer.Argument(..., help="The user to remove.")) -> None:
        """Remove a dashboard user (the last admin cannot be removed)."""
        path = _path()
        users.remove(path, username)
        console.print(f"Removed [bold]{username.strip().lower()}[/]", highlight=False)

    @sub.command()
    @handle_errors
    def passwd(
        username: str = typer.Argument(..., help="The user whose password to set."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help=FROM_STDIN_HELP),
    ) -> None:
        """Set a user's password (their open dashboard sessions end)."""
        path = _path()
        users.get(path, username)  # an unknown name is said before any prompt
        users.set_password(path, username, _password(password_stdin))
        console.print(f"Password of [bold]{username.strip().lower()}[/] changed", highlight=False)

    @sub.command()
    @handle_errors
    def link(
        username: str = typer.Argument(..., help="The dashboard user."),
        kommo_user: list[str] = typer.Argument(
            ..., help="The Kommo users (ids or names) this user is; replaces earlier links."
        ),
        db: str | None = typer.Option(None, "--db", help="Warehouse to look Kommo users up in."),
    ) -> None:
        """Say which Kommo users a dashboard user is (a seller sees only their data)."""
        path = _path()
        users.get(path, username)  # an unknown name is said before any prompt
        user = users.link(path, username, _kommo_ids(kommo_user, db))
        linked = ", ".join(str(i) for i in user.kommo_user_ids)
        console.print(f"[bold]{user.username}[/] is Kommo user(s) {linked}", highlight=False)

    @sub.command("list")
    @handle_errors
    def list_users() -> None:
        """List the dashboard users (passwords are never shown)."""
        path = _path()
        found = users.load(path)
        if not found:
            console.print(
                f"No users in {path}: the dashboard is open to whoever reaches it on this "
                "machine. Add one with `kommo-analytics users add <name> --role admin`.",
                highlight=False,
            )
            return
        rows = tables.Rows(
            f"Dashboard users ({path})",
            [("user", "left"), ("role", "left"), ("Kommo users", "left"), ("e-mail", "left")],
        )
        for user in found:
            rows.add_row(
                user.username,
                user.role,
                ", ".join(str(i) for i in user.kommo_user_ids) or "—",
                user.email or "—",
            )
        rows.print(console)
