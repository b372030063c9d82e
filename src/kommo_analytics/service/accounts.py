"""The accounts of an install: adding, testing, listing and removing them.

The register itself is read with the settings (``settings.read_register``), since every
command's settings depend on the account it works on; this module is its only writer. Each
account has a folder of its own (``DATA_DIR/accounts/<name>``: its secrets, tokens, goals,
costs, rules and logs) and a warehouse of its own (docs/architecture.md "Many accounts"), so
removing an account removes exactly those two things.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import filelock
import httpx
import tomli_w

from kommo_analytics import files
from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.client import client_from_settings
from kommo_analytics.kommo.entities import ACCOUNT
from kommo_analytics.settings import (
    ACCESS_TOKEN_FILE,
    CLIENT_SECRET_FILE,
    MAIN_ACCOUNT,
    RegisteredAccount,
    Settings,
    account_dir,
    account_names,
    check_account_name,
    load_settings,
    read_register,
    register_path,
    using_account,
)
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import parse_database_url


def install_settings() -> Settings:
    """The install's own settings (those of .env), whichever account a command was given."""
    with using_account(MAIN_ACCOUNT):
        return load_settings()


@dataclass(frozen=True)
class Reported:
    """What Kommo says of an account (``GET /api/v4/account?with=datetime_settings``)."""

    name: str | None
    subdomain: str | None
    timezone: str | None
    currency: str | None


@dataclass(frozen=True)
class AccountRow:
    """One line of `accounts list`: an account of the install, the one of .env included."""

    name: str
    label: str
    base_url: str | None
    auth: str
    timezone: str | None
    currency: str | None
    warehouse: str  # where its data is, without a password


def rows(settings: Settings) -> list[AccountRow]:
    registered = read_register(settings.install_dir)
    out = []
    for name in account_names(settings):
        own = settings.for_account(name)
        entry = registered.get(name)
        target = parse_database_url(own.resolved_database_url)
        out.append(
            AccountRow(
                name=name,
                label=entry.label if entry else name,
                base_url=own.kommo_base_url,
                auth=entry.auth if entry else ("token" if own.kommo_access_token else "oauth"),
                timezone=entry.timezone if entry else None,
                currency=entry.currency if entry else None,
                warehouse=target.location,
            )
        )
    return out


async def _ask(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> Reported:
    async with client_from_settings(settings, transport=transport) as client:
        body, _ = await client.get_object(ACCOUNT, {"with": "datetime_settings"})
    settings_block: Any = (body.get("_embedded") or {}).get("datetime_settings") or {}
    return Reported(
        name=_text(body.get("name")),
        subdomain=_text(body.get("subdomain")),
        timezone=_text(settings_block.get("timezone"))
        if isinstance(settings_block, dict)
        else None,
        currency=_text(body.get("currency")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def ask_kommo(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Reported:
    """Reach the account with its own address and credentials; ApiError/AuthError say why not."""
    return asyncio.run(_ask(settings, transport))


def _lock(install_dir: Path) -> filelock.FileLock:
    files.private_dir(install_dir)
    return filelock.FileLock(str(register_path(install_dir)) + ".lock")


def _write(install_dir: Path, accounts: dict[str, RegisteredAccount]) -> None:
    document = {
        "accounts": {
            name: {k: v for k, v in asdict(entry).items() if k != "name" and v is not None}
            for name, entry in accounts.items()
        }
    }
    header = (
        "# The accounts of this install, written by `kommo-analytics accounts`. Their secrets\n"
        "# are files in accounts/<name>/, readable by their owner only.\n"
    )
    files.write_private(register_path(install_dir), header + tomli_w.dumps(document))


def add(
    settings: Settings,
    name: str,
    *,
    base_url: str,
    token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uri: str | None = None,
    display_name: str | None = None,
    test: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> tuple[RegisteredAccount, Reported | None]:
    """Register an account, keep its secrets in its folder (0600), make its warehouse, and —
    unless ``test`` is off or it still needs its OAuth code — ask Kommo for its time zone and
    currency. Nothing is left behind when a step fails."""
    check_account_name(name)
    base_url = _checked_url(base_url)
    auth: Literal["token", "oauth"]
    if token:
        if client_id or client_secret:
            raise ConfigError(
                "give either a long-lived token or the OAuth keys, not both",
                hint="a long-lived token is simplest: it needs no refresh",
            )
        auth = "token"
    else:
        missing = [
            flag
            for flag, value in (
                ("--client-id", client_id),
                ("--client-secret", client_secret),
                ("--redirect-uri", redirect_uri),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"no credentials for the account: give --token, or the OAuth keys "
                f"({', '.join(missing)} missing)",
                hint="a long-lived token comes from Kommo → Settings → Integrations → your private "
                "integration → Keys and scopes",
            )
        auth = "oauth"
    install = settings.install_dir
    with _lock(install):
        registered = read_register(install)
        if name in registered:
            raise ConfigError(
                f"an account named {name!r} exists already",
                hint="choose another name, or remove it first with "
                f"`kommo-analytics accounts remove {name}`",
            )
        clash = next((e for e in registered.values() if e.base_url == base_url), None)
        if clash is not None:
            raise ConfigError(
                f"{base_url} is registered already, as {clash.name!r}",
                hint="one account, one entry: its data would otherwise be synced twice",
            )
        entry = RegisteredAccount(
            name=name,
            base_url=base_url,
            display_name=display_name or None,
            auth=auth,
            client_id=client_id if auth == "oauth" else None,
            redirect_uri=redirect_uri if auth == "oauth" else None,
            added_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        )
        folder = account_dir(install, name)
        existed = folder.exists()
        files.private_dir(folder)
        try:
            if token:
                files.write_private(folder / ACCESS_TOKEN_FILE, token + "\n")
            if client_secret:
                files.write_private(folder / CLIENT_SECRET_FILE, client_secret + "\n")
            _write(install, {**registered, name: entry})
            own = settings.for_account(name)
            reported = None
            if test and auth == "token":
                reported = ask_kommo(own, transport)
                entry = replace(entry, timezone=reported.timezone, currency=reported.currency)
                if not entry.display_name and reported.name:
                    entry = replace(entry, display_name=reported.name)
                _write(install, {**registered, name: entry})
            backend_for(parse_database_url(own.resolved_database_url)).create_database()
        except BaseException:
            _write(install, registered)
            if not existed:
                shutil.rmtree(folder, ignore_errors=True)
            raise
    return entry, reported


def test(
    settings: Settings, name: str, transport: httpx.AsyncBaseTransport | None = None
) -> Reported:
    """Reach the account; its time zone and currency in the register follow what Kommo says."""
    own = settings.for_account(name)
    reported = ask_kommo(own, transport)
    if name == MAIN_ACCOUNT:
        return reported
    install = settings.install_dir
    with _lock(install):
        registered = read_register(install)
        entry = registered.get(name)
        if entry is not None:
            registered[name] = replace(
                entry,
                timezone=reported.timezone or entry.timezone,
                currency=reported.currency or entry.currency,
                display_name=entry.display_name or reported.name,
            )
            _write(install, registered)
    return reported


def remove(settings: Settings, name: str) -> RegisteredAccount:
    """Delete an account: its warehouse (database or files), its folder and its entry —
    nothing of any other account."""
    if name == MAIN_ACCOUNT:
        raise ConfigError(
            "the account of .env is not in the register",
            hint="to stop using it, empty KOMMO_BASE_URL and its token in .env",
        )
    install = settings.install_dir
    with _lock(install):
        registered = read_register(install)
        entry = registered.get(name)
        if entry is None:
            raise ConfigError(
                f"there is no account named {name!r}",
                hint="see the accounts with `kommo-analytics accounts list`",
            )
        own = settings.for_account(name)
        # The data first: an entry without data can be removed again, data without an entry
        # would be forgotten on disk.
        backend_for(parse_database_url(own.resolved_database_url)).drop_database()
        folder = account_dir(install, name)
        if folder.exists():
            shutil.rmtree(folder)
        del registered[name]
        _write(install, registered)
    return entry


def _checked_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{value!r} is not an account address",
            hint="give it as in the browser: https://<subdomain>.kommo.com",
        )
    return f"{parts.scheme}://{parts.netloc}"
