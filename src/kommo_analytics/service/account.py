"""The account as every reader sees it: one type, with its time zone decided in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from kommo_analytics.errors import WarehouseError
from kommo_analytics.model.channels import DEFAULT_CHANNELS
from kommo_analytics.model.query import model_info
from kommo_analytics.service import _sql
from kommo_analytics.settings import Settings
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target, parse_database_url
from kommo_analytics.workdays import WEEKENDS_ONLY, WorkCalendar, calendar_for


@dataclass(frozen=True)
class Account:
    """The synced account and, once the model is built, what the build knew (``info``)."""

    name: str | None
    subdomain: str | None
    currency: str | None
    timezone: str
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    info: Mapping[str, str] = field(default_factory=dict, compare=False)
    # Whose public holidays are not working days (``HOLIDAYS_COUNTRY``, else the account's
    # country): decided here once, like the zone, and handed to the metrics and the forecast.
    calendar: WorkCalendar = WEEKENDS_ONLY

    @property
    def has_model(self) -> bool:
        return bool(self.info)

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.timezone)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


def zone_of(name: str | None) -> tzinfo:
    """An IANA time zone; UTC when it is missing or unknown to this machine."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def target(url: str) -> Target:
    """The warehouse a URL points at."""
    return parse_database_url(url)


def target_for(settings: Settings, url: str | None = None) -> Target:
    """The warehouse of ``--db`` when given, else of the settings."""
    return parse_database_url(url or settings.resolved_database_url)


def timezone_of(*, model: str | None, override: str | None, account: str | None) -> str:
    """The account's time zone, decided once for every reader.

    A built model wins: its local-time columns were converted to the zone it records (the
    ``ACCOUNT_TIMEZONE`` override, when set at the build), and "today" has to be the metrics'
    today. Before the first build the override, then the account's own zone, then UTC.
    """
    return model or override or account or "UTC"


def load(
    target: Target,
    *,
    timezone_override: str | None = None,
    holidays_country: str | None = None,
) -> Account | None:
    """The account from the raw tables and the model; None before a sync has written it.
    ``holidays_country`` is the ``HOLIDAYS_COUNTRY`` setting (see :func:`calendar_for`)."""
    info = model_info(target)
    raw = _sql.rows_if_present(
        target,
        # SQL text: table names the code qualifies; no user value.
        f"SELECT name, subdomain, currency, timezone, country FROM {target.qualified('account')} "  # nosec B608
        "ORDER BY id LIMIT 1",
    )
    if not raw and not info:
        return None
    name, subdomain, currency, zone, country = raw[0] if raw else (None,) * 5
    channels = tuple(c for c in info.get("channels", "").split(",") if c) or DEFAULT_CHANNELS
    return Account(
        name=name if name is not None else info.get("account_name"),
        subdomain=info.get("subdomain", subdomain) if info else subdomain,
        currency=info.get("currency", currency) if info else currency,
        timezone=timezone_of(model=info.get("timezone"), override=timezone_override, account=zone),
        channels=channels,
        info=info,
        calendar=calendar_for(holidays_country, country),
    )


def load_modelled(
    target: Target,
    *,
    timezone_override: str | None = None,
    holidays_country: str | None = None,
) -> Account:
    """The account of a warehouse whose model is built; says what to run when it is not."""
    reader.require_synced(target)
    account = load(target, timezone_override=timezone_override, holidays_country=holidays_country)
    return require_model(account, target)


def require_model(account: Account | None, target: Target) -> Account:
    """`account` when the model is built; else the error saying what builds it."""
    if account is None or not account.has_model:
        raise WarehouseError(
            f"the analytics model has not been built in {target.display}",
            hint="run `kommo-analytics sync` (it builds the model at the end) or "
            "`kommo-analytics model`",
        )
    return account


def pipelines(target: Target) -> pd.DataFrame:
    """The account's pipelines in Kommo's order: id, name."""
    rows = reader.query(
        # SQL text: table names the code qualifies; no user value.
        target,
        f"SELECT id, name FROM {target.qualified('pipelines')} ORDER BY sort, id",  # nosec B608
    )
    return pd.DataFrame(rows, columns=["id", "name"])


def users(target: Target) -> pd.DataFrame:
    """The account's users by name: id, name, is_active."""
    rows = reader.query(
        # SQL text: table names the code qualifies; no user value.
        target,
        f"SELECT id, name, is_active FROM {target.qualified('users')} ORDER BY name, id",  # nosec B608
    )
    return pd.DataFrame(rows, columns=["id", "name", "is_active"])
