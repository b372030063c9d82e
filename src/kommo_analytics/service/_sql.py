"""The service's two ways of running hand-written SQL, and its one test for "that table does not
exist yet" (every caller that treats a missing table as "nothing yet" asks :func:`missing_table`,
so the mechanism behind it can change in one place)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kommo_analytics.errors import KommoAnalyticsError, WarehouseError
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.target import Target


def missing_table(exc: BaseException) -> bool:
    """Whether a failed read failed because a table (or its schema) is not there yet."""
    return reader.is_missing_table(exc)


def rows(target: Target, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query; a driver error becomes one line for people, not a traceback."""
    try:
        return reader.query(target, sql, params)
    except KommoAnalyticsError:
        raise
    except Exception as exc:
        raise WarehouseError(f"a query on {target.display} failed: {first_line(exc)}") from exc


def rows_if_present(target: Target, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of one query, or None when a table it reads does not exist yet."""
    try:
        return reader.query(target, sql)
    except Exception as exc:
        if missing_table(exc):
            return None
        if isinstance(exc, KommoAnalyticsError):
            raise
        raise WarehouseError(f"a query on {target.display} failed: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
