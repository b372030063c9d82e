"""A query compiled through its cached shape is the SQL Ibis writes for it, byte for byte.

`model/query.shaped_sql` compiles each query's shape once and swaps its values in; every metric
the dashboard shows goes through it, so the SQL must be the very one Ibis would write directly,
for the first values of a shape (the shape is compiled) and for later ones (it is reused).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import ibis
import pytest

from kommo_analytics.metrics import report as metric_report
from kommo_analytics.metrics import series
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model.query import shaped_sql
from kommo_analytics.service.reports import TABLE_COLUMNS

MODEL = Model(TABLE_COLUMNS, "main")
# Two views of one shape: another period, "now", zone, SLA and channel (the values a page's
# filters change); the second's one-day period makes its start and end one value.
FIRST, SECOND = (
    MetricParams(start=date(2026, 10, 27), end=date(2026, 11, 25),
                 as_of=datetime(2026, 12, 7, 3, 55, tzinfo=UTC), timezone="America/Sao_Paulo",
                 pipelines=(8852599,), sellers=(1, 2_000_000_001), channels=("paid",)),
    MetricParams(start=date(2025, 1, 1), end=date(2025, 1, 1),
                 as_of=datetime(2025, 1, 2, 12, 0, 30, tzinfo=UTC), timezone="UTC",
                 pipelines=(7,), sellers=(3, 4), channels=("o'brien",), sla_hours=0.5),
)  # fmt: skip
SERIES = ("leads_by_day", "sales_by_day", "activities_by_day", "activity_heatmap",
          "stage_flows", "cycle_days", "seller_channel", "activity_by_seller")  # fmt: skip


def direct(expr: ibis.Expr, dialect: str) -> str:
    return str(ibis.to_sql(expr, dialect=dialect, pretty=False))


def queries(params: MetricParams) -> dict[str, ibis.Expr]:
    """Every query of the report and of the dashboard's charts."""
    found: dict[str, ibis.Expr] = dict(metric_report.plan(MODEL, params))
    found.update({name: getattr(series, name)(MODEL, params) for name in SERIES})
    return found


@pytest.mark.slow  # about 70 queries compiled twice: some seconds of Ibis
def test_every_metric_query_compiles_to_the_same_sql_through_its_shape() -> None:
    first, second = queries(FIRST), queries(SECOND)
    assert first.keys() == second.keys()
    for name in first:
        # The first compiles the shape (what a miss returns is the same swap as a hit's), the
        # second reuses it with its own values.
        shaped_sql(first[name], "duckdb")
        assert shaped_sql(second[name], "duckdb") == direct(second[name], "duckdb"), name


@pytest.mark.parametrize("dialect", ["duckdb", "mysql", "postgres"])
def test_every_kind_of_value_is_swapped_into_the_shape(dialect: str) -> None:
    table = ibis.table({"d": "date", "ts": "timestamp('America/Sao_Paulo')", "s": "string",
                        "i": "int64", "f": "float64", "b": "boolean"}, name="x")  # fmt: skip

    def query(
        day: date, moment: datetime, texts: list[str], number: int, hours: float
    ) -> ibis.Expr:
        return table.filter(
            table.d.between(day, day), table.ts < moment, table.s.isin(texts),
            table.i == number, table.f > hours, table.b == True,  # noqa: E712
        ).select("d", rounded=table.f.round(1))  # fmt: skip

    values = (
        (date(2026, 10, 27), datetime(2026, 11, 25, 15, tzinfo=UTC), ["paid", "won"], 8852599, 2.0),
        (date(1999, 1, 1), datetime(2000, 2, 29, 1, 2, 3, 456789, tzinfo=UTC), ["d'água", "x"],
         2**40, 0.1),
    )  # fmt: skip
    for args in values:
        expr = query(*args)
        assert shaped_sql(expr, dialect) == direct(expr, dialect)
