"""Tables that grow with the account, one page at a time: the database sorts, counts and cuts
the page, so a render formats and sends only the rows shown (docs/architecture.md, "Layers and
folders"). What is asked (:class:`PageRequest`) and what comes back (:class:`Page`) are shared by
the Leads explorer (:func:`kommo_analytics.service.leads.page`), the overdue tasks and the
drill-downs below.

Sorting is by a whitelisted key only; every sort ends on the row's id, so a page boundary never
splits ties differently from one query to the next, and missing values sort last on every
backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pandas as pd

from kommo_analytics.errors import ConfigError
from kommo_analytics.metrics import series as metric_series
from kommo_analytics.metrics.activities import tasks_in_scope
from kommo_analytics.metrics.common import Model
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.model.query import run_all
from kommo_analytics.model.schema import model_schema
from kommo_analytics.service.reports import TABLE_COLUMNS
from kommo_analytics.warehouse.target import Target

PAGE_SIZES: Final = (25, 50, 100, 250)
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
EXPORT_LIMIT: Final = 100_000  # rows in one download: a spreadsheet beyond that is of no use


@dataclass(frozen=True)
class PageRequest:
    """One page of a table: 1-based ``number`` of ``size`` rows, sorted by ``sort`` (a key the
    table whitelists), and a free ``search`` text where the table offers one. Frozen and
    hashable, so it keys a cache."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE
    sort: str = ""
    descending: bool = True
    search: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ConfigError(
                f"a page holds 1 to {MAX_PAGE_SIZE} rows, not {self.size}",
                hint=f"choose one of {', '.join(map(str, PAGE_SIZES))}",
            )
        if self.number < 1:
            raise ConfigError(f"pages are numbered from 1, not {self.number}")


@dataclass(frozen=True)
class Page:
    """The rows of one page and how many rows the whole filtered table has. ``number`` is the
    page actually read: a request past the last page reads the last one (the filters changed
    under it). ``counts``: other counts over the whole filtered table, by name."""

    rows: pd.DataFrame
    total: int
    number: int
    size: int
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_row(self) -> int:
        """1-based position of the page's first row (0 for an empty table)."""
        return 0 if self.total == 0 else (self.number - 1) * self.size + 1


def clamp(number: int, total: int, size: int) -> int:
    """The page to read: ``number``, or the last page when the table has fewer."""
    return max(1, min(number, -(-total // size)))


def sort_key(request: PageRequest, allowed: Mapping[str, Any], default: str) -> str:
    """The request's sort key, checked against the table's whitelist ("" → ``default``)."""
    key = request.sort or default
    if key not in allowed:
        raise ConfigError(
            f"this table cannot be sorted by {key!r}",
            hint=f"sort by one of: {', '.join(allowed)}",
        )
    return key


# -- model tables paged with Ibis --------------------------------------------------------------


def _ordered(expr: ir.Table, column: str, descending: bool, tie: str) -> ir.Table:
    value = expr[column]
    direction = ibis.desc if descending else ibis.asc
    # `value IS NULL` first: false before true, so missing values end the list on every backend.
    return expr.order_by([value.isnull(), direction(value), direction(expr[tie])])


def page_of(
    target: Target,
    expr: ir.Table,
    request: PageRequest,
    *,
    sorts: Mapping[str, str],
    default: str,
    tie: str,
    counts: Mapping[str, Callable[[ir.Table], ir.Value]] | None = None,
) -> Page:
    """One page of an Ibis table expression: its count (and ``counts``), then the page's rows
    (the count decides which page exists)."""
    key = sort_key(request, sorts, default)
    more = {name: count(expr) for name, count in (counts or {}).items()}
    counted = run_all(target, {"n": expr.aggregate(n=expr.count(), **more)})["n"]
    values = {str(k): int(v or 0) for k, v in counted.iloc[0].items()}
    total = values.pop("n")
    number = clamp(request.number, total, request.size)
    ordered = _ordered(expr, sorts[key], request.descending, tie)
    rows = run_all(
        target, {"page": ordered.limit(request.size, offset=(number - 1) * request.size)}
    )["page"]
    return Page(rows=rows, total=total, number=number, size=request.size, counts=values)


def rows_of(
    target: Target,
    expr: ir.Table,
    request: PageRequest,
    *,
    sorts: Mapping[str, str],
    default: str,
    tie: str,
    limit: int = EXPORT_LIMIT,
) -> pd.DataFrame:
    """The first ``limit`` rows of the expression in the request's order (a download)."""
    key = sort_key(request, sorts, default)
    ordered = _ordered(expr, sorts[key], request.descending, tie)
    return run_all(target, {"rows": ordered.limit(limit)})["rows"]


def model(target: Target) -> Model:
    return Model(TABLE_COLUMNS, model_schema(target))


# Overdue tasks: the most recently due first by default.
OVERDUE_SORTS: Final = {"due": "complete_till_local"}
OVERDUE_COLUMNS: Final = (
    "task_id", "kind", "task_type_id", "type_name", "responsible_user_id", "entity_type",
    "entity_id", "lead_id", "complete_till_local",
)  # fmt: skip


def overdue_expr(m: Model, p: MetricParams) -> ir.Table:
    """Tasks due in the period and still not done at as_of (the period's part of the overdue
    card), inside the filters."""
    tasks = tasks_in_scope(m, p, due_in_period=True)
    tasks = tasks.filter(tasks.overdue).select(*OVERDUE_COLUMNS)
    # The lead's name, so the table names the lead a task is about rather than its number.
    names = m.fact_leads.select(named_lead_id="lead_id", lead_name="name")
    joined = tasks.left_join(names, tasks.lead_id == names.named_lead_id)
    return joined.select(tasks, names.lead_name)


def overdue_page(target: Target, p: MetricParams, request: PageRequest) -> Page:
    """One page of the overdue tasks due in the period, the most recently due first; its
    ``counts["off_lead"]``: how many of them are on no lead."""
    return page_of(
        target,
        overdue_expr(model(target), p),
        request,
        sorts=OVERDUE_SORTS,
        default="due",
        tie="task_id",
        counts={"off_lead": lambda t: t.lead_id.isnull().sum()},
    )


def overdue_rows(
    target: Target, p: MetricParams, request: PageRequest, limit: int = EXPORT_LIMIT
) -> pd.DataFrame:
    """The overdue tasks due in the period for a download, in the request's order."""
    expr = overdue_expr(model(target), p)
    return rows_of(target, expr, request, sorts=OVERDUE_SORTS, default="due", tie="task_id",
                   limit=limit)  # fmt: skip


# Drill-downs: the leads behind an aggregate, the newest first by default.
DRILL_SORTS: Final = {
    "created": "created_local",
    "name": "name",
    "price": "price",
    "lead": "lead_id",
}


def drill_expr(
    m: Model,
    p: MetricParams,
    basis: str,
    where: Sequence[tuple[str, Any]] = (),
    reached: tuple[int, int] | None = None,
) -> ir.Table:
    """The named leads behind an aggregate (see :func:`kommo_analytics.service.reports.lead_list`),
    unsorted."""
    if reached is not None:
        expr = metric_series.reached_stage(m, p, *reached)
    else:
        expr = metric_series.narrow(metric_series.lead_list(m, p, basis), **dict(where))  # type: ignore[arg-type]
    # `named` sorts the newest first; the page's own sort replaces that one.
    return metric_series.named(m, expr)


def drill_page(
    target: Target,
    p: MetricParams,
    basis: str,
    request: PageRequest,
    where: Sequence[tuple[str, Any]] = (),
    reached: tuple[int, int] | None = None,
) -> Page:
    """One page of the leads behind an aggregate, the newest first by default."""
    expr = drill_expr(model(target), p, basis, where, reached)
    return page_of(target, expr, request, sorts=DRILL_SORTS, default="created", tie="lead_id")


def drill_rows(
    target: Target,
    p: MetricParams,
    basis: str,
    request: PageRequest,
    where: Sequence[tuple[str, Any]] = (),
    reached: tuple[int, int] | None = None,
    limit: int = EXPORT_LIMIT,
) -> pd.DataFrame:
    """The leads behind an aggregate for a download, in the request's order."""
    expr = drill_expr(model(target), p, basis, where, reached)
    return rows_of(target, expr, request, sorts=DRILL_SORTS, default="created", tie="lead_id",
                   limit=limit)  # fmt: skip
