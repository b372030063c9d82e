"""Running the metrics' Ibis expressions on a warehouse.

Expressions are compiled to the target's SQL dialect and run through the same per-query
connections as every other reader (``reader.py``): no long-lived connection, nothing Ibis-specific
to install per backend (Ibis's own MySQL backend would need the compiled ``mysqlclient``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.errors import (
    MissingTableError,
    NoSyncedDataError,
    QueryError,
    WarehouseError,
    first_line,
)
from kommo_analytics.model.incremental import BOOKKEEPING_ITEMS
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified, model_schema
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.backends import backend_for
from kommo_analytics.warehouse.target import Target


def model_table(target: Target, name: str) -> ir.Table:
    """The model table ``name`` of ``target`` as an unbound Ibis table, for :func:`run_all`."""
    return ibis.table(MODEL_TABLES[name].ibis_schema, name=name, database=model_schema(target))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A result's rows as dicts keyed by column name (``to_dict`` may key by any hashable)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def compile_sql(target: Target, expr: ir.Table) -> str:
    return str(ibis.to_sql(expr, dialect=backend_for(target).dialect))


def run_all(
    target: Target, queries: Mapping[str, ir.Table], *, write: bool = False
) -> dict[str, pd.DataFrame]:
    """Every query on one connection (one consistent read on MySQL/PostgreSQL: a sync that
    commits in between cannot mix two models into one report). ``write``: the writer's own
    connection (the sync, before it publishes: see ``reader.connect``)."""
    results: dict[str, pd.DataFrame] = {}
    backend = backend_for(target)
    with reader.connect(target, write=write) as con:
        backend.consistent_read(con)
        for name, expr in queries.items():
            sql = compile_sql(target, expr)
            try:
                # Column-wise where the driver allows (DuckDB's Arrow): the forecast's History is
                # millions of rows, and a Python tuple per row cost most of its read.
                results[name] = backend.fetch_records(con, sql)
            except Exception as exc:
                raise _query_problem(target, name, exc) from exc
    return results


def _query_problem(target: Target, name: str, exc: Exception) -> WarehouseError:
    if isinstance(exc, MissingTableError):
        return MissingTableError(
            f"the analytics model is missing in {target.display} "
            f"({', '.join(exc.tables)} does not exist)",
            tables=exc.tables,
            hint="run `kommo-analytics sync` (it builds the model) or `kommo-analytics model`",
        )
    if isinstance(exc, QueryError):
        reason = exc.reason
    elif isinstance(exc, WarehouseError):
        return exc  # a lost connection, a full disk: already said plainly
    else:
        reason = first_line(exc)
    return WarehouseError(f"the metric query {name!r} failed on {target.display}: {reason}")


def model_info(target: Target) -> dict[str, str]:
    """The build's facts (time zone, currency, subdomain, built_at); empty before a build."""
    try:
        rows = reader.query(
            # SQL text: table names the code qualifies; no user value.
            target,
            f"SELECT item, value FROM {model_qualified(target, 'model_info')}",  # nosec B608
        )
    except (MissingTableError, NoSyncedDataError):
        return {}
    return {str(k): str(v) for k, v in rows if v is not None and str(k) not in BOOKKEEPING_ITEMS}
