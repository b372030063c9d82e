"""Options the commands share: how they are described and how their values are read."""

from __future__ import annotations

from datetime import datetime

from kommo_analytics.errors import ConfigError

DB_HELP = "Warehouse URL (default: DATABASE_URL, else the DuckDB file in DATA_DIR)."


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
