"""A read where a table that does not exist yet means "nothing yet" rather than an error (the
database boundary decides that from the catalog; other reads call ``reader.query`` directly)."""

from __future__ import annotations

from typing import Any

from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target


def rows_if_present(target: Target, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of one query, or None when a table it reads does not exist yet."""
    try:
        return reader.query(target, sql)
    except KommoAnalyticsError as exc:
        if reader.is_missing_table(exc):
            return None
        raise
