"""Building blocks shared by the metric modules: the model's tables as Ibis expressions, scope
filters, portable medians, and the small arithmetic every module repeats.

Metric modules are pure: ``queries(model, params)`` returns Ibis expressions (nothing runs), and
``assemble(results, params)`` turns the executed results (DataFrames) into numbers. Where the
expressions run is the caller's business (``model/query.py``), so the same definitions work
on DuckDB, MariaDB, PostgreSQL or any engine Ibis compiles to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.metrics.params import MetricParams

Results = Mapping[str, pd.DataFrame]
Queries = dict[str, ir.Table]


@dataclass(frozen=True)
class Model:
    """Unbound Ibis tables for the model, qualified with the schema they live in.

    ``tables`` gives each table's columns (name → Ibis type); the model layer declares them and
    the caller passes them in, so the metrics depend on no other package.
    """

    tables: Mapping[str, Mapping[str, str]]
    schema: str | None = None

    def __getattr__(self, name: str) -> ir.Table:
        # `tables` itself is looked up here while a copy or unpickling is half made.
        if name == "tables" or name not in self.tables:
            raise AttributeError(name)
        return ibis.table(dict(self.tables[name]), name=name, database=self.schema)


# -- scope ------------------------------------------------------------------------------------------


def ts(value: datetime) -> ir.TimestampValue:
    return ibis.literal(value, type="timestamp")


def in_local_period(column: ir.TimestampValue, p: MetricParams) -> ir.BooleanValue:
    return (column >= ts(p.local_start)) & (column < ts(p.local_end))


def scoped_leads(m: Model, p: MetricParams) -> ir.Table:
    """Leads that count at all: not deleted, inside the pipeline/seller/channel filters."""
    leads = m.fact_leads
    leads = leads.filter(leads.is_deleted == False)  # noqa: E712 (an Ibis expression)
    if p.pipelines:
        leads = leads.filter(leads.pipeline_id.isin(list(p.pipelines)))
    if p.sellers:
        leads = leads.filter(leads.responsible_user_id.isin(list(p.sellers)))
    if p.channels:
        leads = leads.filter(leads.channel.isin(list(p.channels)))
    return leads


def created_in_period(m: Model, p: MetricParams) -> ir.Table:
    leads = scoped_leads(m, p)
    return leads.filter(
        in_local_period(leads.created_local, p) & (leads.created_at <= ts(p.as_of_utc))
    )


def closed_in_period(m: Model, p: MetricParams) -> ir.Table:
    """Won or lost deals whose closing date falls in the period (and is not after as_of)."""
    leads = scoped_leads(m, p)
    return leads.filter(
        leads.outcome.isin(["won", "lost"])
        & in_local_period(leads.closed_local, p)
        & (leads.closed_at <= ts(p.as_of_utc))
    )


def lead_filters_active(p: MetricParams) -> bool:
    return bool(p.pipelines or p.channels)


def restrict_to_leads(table: ir.Table, m: Model, p: MetricParams) -> ir.Table:
    """Activities and tasks follow the pipeline and channel filters through their lead; ones not
    on a lead (e.g. on a contact) cannot be attributed and drop out while such a filter is on."""
    if not lead_filters_active(p):
        return table
    leads = scoped_leads(m, p).select("lead_id")
    return table.semi_join(leads, table.lead_id == leads.lead_id)


# -- portable statistics ---------------------------------------------------------------------------


def median(table: ir.Table, value: str, by: Sequence[str] = ()) -> ir.Table:
    """Median of ``value`` per group, with window functions every backend has (MySQL/MariaDB
    have no MEDIAN aggregate Ibis can compile): the mean of the one or two middle rows."""
    table = table.filter(table[value].notnull())
    groups = [table[b] for b in by]
    ranked = table.mutate(
        _rn=ibis.row_number().over(ibis.window(group_by=groups, order_by=table[value])),
        _n=table[value].count().over(ibis.window(group_by=groups)),
    )
    middle = ranked.filter((ranked._rn == (ranked._n - 1) // 2) | (ranked._rn == ranked._n // 2))
    if by:
        return middle.group_by(list(by)).aggregate(median=middle[value].mean())
    return middle.aggregate(median=middle[value].mean())


# -- plain arithmetic on results -------------------------------------------------------------------


def num(value: Any) -> float | None:
    """A float from whatever the driver returned (Decimal, numpy, None, NaN)."""
    if value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def text(value: Any) -> str | None:
    """A string from a result cell; None for SQL NULL, however the driver or pandas spelled it
    (pandas turns None into NaN in a column it infers as text)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def count(value: Any) -> int:
    number = num(value)
    return 0 if number is None else round(number)


def pct(part: float | int | None, whole: float | int | None) -> float | None:
    """A percentage 0–100; None when the denominator is 0 (no data is not 0 %)."""
    if part is None or whole is None or whole == 0:
        return None
    return 100.0 * float(part) / float(whole)


def ratio(part: float | int | None, whole: float | int | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return float(part) / float(whole)


def tuples(frame: pd.DataFrame) -> list[Any]:
    """Rows as named tuples (typed loosely: drivers return ints, Decimals or floats alike)."""
    return list(frame.itertuples(index=False))
