"""Option values people type, read once for every command."""

from __future__ import annotations

from datetime import datetime

from kommo_analytics.errors import ConfigError


def as_of(value: str | None) -> datetime | None:
    """``--as-of``: an ISO date and time; without an offset it is the account's wall clock."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--as-of {value!r} is not a date and time",
            hint="write it as 2026-11-25T18:00 (account time) or 2026-11-25T18:00-03:00",
        ) from None
