"""The service's two ways of running hand-written SQL, and its one test for "that table does not
exist yet" (every caller that treats a missing table as "nothing yet" asks :func:`missing_table`,
so the mechanism behind it can change in one place)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target


def missing_table(exc: BaseException) -> bool:
    """Whether a failed read failed because a table (or its schema) is not there yet — decided
    by the database boundary from the catalog, never from the error's text."""
    return reader.is_missing_table(exc)


def rows(target: Target, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query; driver errors arrive already translated by the database boundary."""
    return reader.query(target, sql, params)


def rows_if_present(target: Target, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of one query, or None when a table it reads does not exist yet."""
    try:
        return reader.query(target, sql)
    except KommoAnalyticsError as exc:
        if missing_table(exc):
            return None
        raise
