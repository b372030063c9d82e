"""Running the metrics' Ibis expressions on a warehouse.

Expressions are compiled to the target's SQL dialect and run through the same per-query
connections as every other reader (``reader.py``): no long-lived connection, nothing Ibis-specific
to install per backend (Ibis's own MySQL backend would need the compiled ``mysqlclient``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
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
    """The expression's SQL in the target's dialect, through the cache of query shapes."""
    return shaped_sql(expr, backend_for(target).dialect)


# -- compiling a query's shape once ---------------------------------------------------------------
# Ibis's compiler is pure Python and costs more than DuckDB takes to run the query it writes
# (about half of a dashboard page's cold render). A page asked for another period or channel
# runs the same queries with other values, so the SQL is compiled once per *shape*: the
# expression with each date, timestamp, text and number value replaced by a stand-in of the same
# type, whose SQL text is then swapped for the real value's (each rendered by Ibis alone). A
# shape whose SQL does not show every stand-in exactly as Ibis renders it alone (a value the
# compiler reads rather than prints) is compiled directly, as before; `tests/model/
# test_query_shapes.py` checks that both give the same SQL, byte for byte, for every query.

_SHAPED_KINDS: Final = (dt.Date, dt.Timestamp, dt.String, dt.Int32, dt.Int64, dt.Float64)
_STAND_IN_EPOCH: Final = datetime(1901, 1, 1, tzinfo=UTC)


def _stand_in(index: int, dtype: dt.DataType) -> Any:
    """A value of `dtype` distinct for each index, that no account's data or filter holds."""
    if dtype.is_date():
        return date(1901, 1, 1) + timedelta(days=index)
    if dtype.is_timestamp():
        moment = _STAND_IN_EPOCH + timedelta(seconds=index)
        return moment if dtype.timezone else moment.replace(tzinfo=None)
    if dtype.is_string():
        return f"kommo-shape-{index:05d}"
    if dtype.is_float64():
        return 1_901_000_000.25 + index
    return 1_901_000_000 + index  # int32 and int64: within either's range


@lru_cache(maxsize=4096)
def _literal_sql(value: Any, dtype: dt.DataType, dialect: str) -> str:
    sql = _to_sql(ibis.literal(value, type=dtype).name("v"), dialect)
    head, tail = "SELECT ", ' AS "v"'
    if not (sql.startswith(head) and sql.endswith(tail)):
        raise ValueError(f"unexpected literal SQL {sql!r}")
    return sql[len(head) : -len(tail)]


@lru_cache(maxsize=512)
def _shape_sql(shape: ops.Node, dialect: str) -> str:
    return _to_sql(shape.to_expr(), dialect)


def _to_sql(expr: ir.Expr, dialect: str) -> str:
    # On one line: pretty-printing wraps by length, and a stand-in is not as long as its value.
    return str(ibis.to_sql(expr, dialect=dialect, pretty=False))


def _shaped(value: Any, dtype: dt.DataType) -> bool:
    return isinstance(dtype, _SHAPED_KINDS) and value is not None and not isinstance(value, bool)


def shaped_sql(expr: ir.Expr, dialect: str) -> str:
    """``ibis.to_sql(expr, dialect)``, the shape compiled once for all its values."""
    root = expr.op()
    literals = [lit for lit in root.find(ops.Literal) if _shaped(lit.value, lit.dtype)]
    if not literals:
        return _to_sql(expr, dialect)
    try:
        stand_ins = {lit: ops.Literal(_stand_in(i, lit.dtype), lit.dtype)
                     for i, lit in enumerate(literals)}  # fmt: skip
        swaps = {
            _literal_sql(stand_ins[lit].value, lit.dtype, dialect): _literal_sql(
                lit.value, lit.dtype, dialect
            )
            for lit in literals
        }
        template = _shape_sql(root.replace(stand_ins), dialect)
    except Exception:  # a value Ibis cannot stand in for: the direct way
        return _to_sql(expr, dialect)
    if len(swaps) != len(literals) or any(template.count(s) == 0 for s in swaps):
        return _to_sql(expr, dialect)
    pattern = re.compile("|".join(re.escape(s) for s in sorted(swaps, key=len, reverse=True)))
    return pattern.sub(lambda m: swaps[m.group(0)], template)


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
