"""`kommo-analytics users add|remove|passwd|list|link|accounts`: who may sign in to the
dashboard, and which accounts and Kommo users they see.

Passwords are never command-line arguments (other users of the machine read those in `ps`):
they are typed twice without echo, or read from standard input with `--password-stdin`.

Kommo users belong to an account: `link` (and `add --kommo-user`) link in the account the command
works on (`kommo-analytics --account NAME users link …`, default: the one of .env).
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
from kommo_analytics.settings import MAIN_ACCOUNT, account_names, load_settings

console = Console()

FROM_STDIN_HELP = "Read the password from the first line of standard input (for scripts)."


def _path() -> Path:
    return users.users_path(load_settings().install_dir)


def _accounts() -> list[str]:
    """The install's accounts (those `--account` may name)."""
    return account_names(load_settings())


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
            [],
            "--kommo-user",
            help="A Kommo user (id or name) this user is, in the account the command works on; "
            "repeatable.",
        ),
        visible: list[str] = typer.Option(
            [],
            "--account",
            help="An account this user may see (default: all of them); repeatable. Admins see all.",
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
        known = _accounts()
        # Checked before any prompt: a typo costs no password typed twice.
        limited = users.check_accounts(visible, known) if visible else None
        if limited is not None and role == "admin":
            raise ConfigError(
                "an admin sees every account", hint="limit a manager or a seller to some accounts"
            )
        ids = _kommo_ids(kommo_user, db) if kommo_user else []
        user = users.add(
            path,
            username,
            role,
            _password(password_stdin),
            email=email,
            kommo_user_ids=ids,
            account=load_settings().account_name,
            accounts=limited,
            known_accounts=known,
        )
        console.print(f"Added [bold]{user.username}[/] ({user.role}) to {path}", highlight=False)
        if user.role == "seller" and not user.kommo_ids_in(load_settings().account_name):
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
        name = load_settings().account_name
        user = users.link(path, username, _kommo_ids(kommo_user, db), account=name)
        linked = ", ".join(str(i) for i in user.kommo_ids_in(name))
        where = f" in the account {name}" if len(_accounts()) > 1 else ""
        console.print(f"[bold]{user.username}[/] is Kommo user(s) {linked}{where}", highlight=False)

    @sub.command("accounts")
    @handle_errors
    def accounts_of(
        username: str = typer.Argument(..., help="The dashboard user."),
        names: list[str] = typer.Argument(
            None, help="The accounts this user may see; replaces the earlier list."
        ),
        every: bool = typer.Option(
            False, "--all", help="Let this user see every account, also those added later."
        ),
    ) -> None:
        """Say which accounts a user may see (admins see every one)."""
        if every == bool(names):
            raise ConfigError(
                "give either account names or --all",
                hint=f"accounts: {', '.join(_accounts()) or 'none yet'}",
            )
        user = users.set_accounts(_path(), username, None if every else names, _accounts())
        shown = ", ".join(user.accounts) if user.accounts is not None else "every account"
        console.print(f"[bold]{user.username}[/] sees {shown}", highlight=False)

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
        known = _accounts()
        several = len(known) > 1
        columns = [("user", "left"), ("role", "left"), ("Kommo users", "left")]
        if several:
            columns.append(("accounts", "left"))
        rows = tables.Rows(f"Dashboard users ({path})", [*columns, ("e-mail", "left")])
        for user in found:
            if several:
                linked = "; ".join(
                    f"{name}: {', '.join(str(i) for i in user.kommo_ids_in(name))}"
                    for name in known
                    if user.kommo_ids_in(name)
                )
                seen = ", ".join(user.visible_accounts(known)) or "none"
                if user.role == "admin" or user.accounts is None:
                    seen = "all"
                rows.add_row(user.username, user.role, linked or "—", seen, user.email or "—")
            else:
                linked = ", ".join(
                    str(i) for i in user.kommo_ids_in(known[0] if known else MAIN_ACCOUNT)
                )
                rows.add_row(user.username, user.role, linked or "—", user.email or "—")
        rows.print(console)
