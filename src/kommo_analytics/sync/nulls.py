"""Columns whose share of NULLs jumped in a run: the API may have stopped sending a field.

A NULL the API sent is its truth and is stored; but when a column that was almost always
filled in the warehouse arrives mostly empty in this run's rows, a person should know — it is
how a renamed or dropped field shows itself. Pure functions; the engine feeds them counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kommo_analytics.warehouse.loader import Row
from kommo_analytics.warehouse.tables import TABLES, T

# The stream tables watched, and only their typed columns: a text column may well be empty.
WATCHED = ("leads", "contacts", "tasks", "call_notes", "events")
_TYPED = (T.BIGINT, T.TIMESTAMP, T.DOUBLE, T.BOOL)
# Flags the sync derives itself, not values the API sends.
_DERIVED = {"leads": {"is_deleted", "deleted_at"}}

MIN_ROWS = 100  # on each side: fewer rows say nothing about a share
WAS_BELOW = 0.05
NOW_ABOVE = 0.5


def watched_columns(table: str) -> list[str]:
    skip = _DERIVED.get(table, set())
    return [c.name for c in TABLES[table].columns if c.type in _TYPED and c.name not in skip]


def stored_sql(table: str, qualified: str) -> str:
    """One pass over a stored table: its rows and the non-NULL values of each watched column."""
    counts = ", ".join(f"count({c})" for c in watched_columns(table))
    # SQL text: a raw table's declared columns and qualified name; no user value.
    return f"SELECT count(*), {counts} FROM {qualified}"  # nosec B608


def stored_nulls(table: str, result: tuple[Any, ...]) -> tuple[int, Counter[str]]:
    """(rows, NULLs per column) from the row :func:`stored_sql` returned."""
    total = int(result[0] or 0)
    filled = result[1:]
    columns = watched_columns(table)
    return total, Counter({c: total - int(n or 0) for c, n in zip(columns, filled, strict=True)})


@dataclass
class Seen:
    """NULLs per column among the rows a run read, table by table."""

    rows: Counter[str] = field(default_factory=Counter)
    nulls: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, table: str, rows: Iterable[Row]) -> None:
        if table not in WATCHED:
            return
        columns = watched_columns(table)
        nulls = self.nulls.setdefault(table, Counter())
        for row in rows:
            self.rows[table] += 1
            for column in columns:
                if row.get(column) is None:
                    nulls[column] += 1


def jumps(stored: Mapping[str, tuple[int, Counter[str]]], seen: Seen) -> list[dict[str, Any]]:
    """A warning for every watched column that was < 5 % NULL in the warehouse and is > 50 %
    NULL in this run's rows, with at least ``MIN_ROWS`` rows on each side."""
    found: list[dict[str, Any]] = []
    for table, (stored_rows, stored_null) in stored.items():
        run_rows = seen.rows.get(table, 0)
        if stored_rows < MIN_ROWS or run_rows < MIN_ROWS:
            continue
        run_null = seen.nulls.get(table, Counter())
        for column in watched_columns(table):
            before = stored_null[column] / stored_rows
            now = run_null[column] / run_rows
            if before < WAS_BELOW and now > NOW_ABOVE:
                found.append(
                    {
                        "kind": "null_jump",
                        "table": table,
                        "column": column,
                        "run_rows": run_rows,
                        "run_null_share": round(now, 4),
                        "stored_rows": stored_rows,
                        "stored_null_share": round(before, 4),
                    }
                )
    return found


def describe(warning: Mapping[str, Any]) -> str:
    """A warning in words, for the CLI and logs (the dashboard words it in the reader's
    language from the same fields)."""
    if warning.get("kind") == "null_jump":
        return (
            f"{warning['table']}.{warning['column']} is empty in "
            f"{warning['run_null_share']:.0%} of this run's {warning['run_rows']:,} rows "
            f"(was {warning['stored_null_share']:.0%} of {warning['stored_rows']:,} stored): "
            "Kommo may have stopped sending this field — check a few of these records in Kommo"
        )
    if warning.get("kind") == "no_timezone":
        return (
            f"Kommo sent no time zone for the account; days are counted in {warning['used']} — "
            "set ACCOUNT_TIMEZONE in .env (e.g. ACCOUNT_TIMEZONE=America/Sao_Paulo)"
        )
    return str(warning)
