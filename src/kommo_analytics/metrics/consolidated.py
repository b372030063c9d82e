"""The consolidated view: several accounts' reports side by side and summed. Pure.

Each account's figures come from its own report (:class:`Report`), computed by the read service
for the same calendar dates in that account's own time zone. Here they are only combined:

- **Counts are summed** (leads, won, lost, tasks, calls, open deals…), and every ratio is
  **recomputed from the sums** — win rate = Σ won / (Σ won + Σ lost), never the mean of the
  accounts' win rates. An average is recombined through its numerator (average × its count).
- **Money is converted month by month**: an account's revenue and costs of month M of the period
  (its report for that month's days) at month M's rate, and its open pipeline (a value at "as
  of") at the rate of the month "as of" falls in. Rates are what the user supplied
  (:class:`Rates`), never derived or guessed. When one is missing the money total is refused
  (None) and :attr:`Consolidated.missing_rates` names each (month, currency) pair; the
  accounts' own figures, in their own currency, are still there.
- **Medians and percentiles are never combined**: the median of two medians is not a median.
  They stay in each account's column.
- The **consolidated funnel** sums, for each common stage of the user's mapping, the leads
  that reached it in each account's mapped stages (see :func:`funnel`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, TypeVar

from kommo_analytics.metrics.common import pct, ratio
from kommo_analytics.metrics.results import Pipeline, Report, section

# The report sections the consolidation reads: of the whole period, and of each month slice.
SECTIONS = ("leads", "funnel", "activities", "sales", "forecast")
MONTH_SECTIONS = ("leads", "sales")


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def month_slices(start: date, end: date) -> list[tuple[str, date, date]]:
    """The calendar months the period touches, each cut to the period: (YYYY-MM, first, last)."""
    out = []
    first = start
    while first <= end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(end, date.fromordinal(following.toordinal() - 1))
        out.append((month_of(first), first, last))
        first = following
    return out


@dataclass(frozen=True)
class Rates:
    """The exchange rates the user supplied into the reporting currency: ``table[(month,
    currency)]`` is how many units of ``reporting`` one unit of ``currency`` was worth for the
    money of ``month`` (YYYY-MM)."""

    reporting: str
    table: Mapping[tuple[str, str], float]

    def rate(self, month: str, currency: str) -> float | None:
        if currency == self.reporting:
            return 1.0
        return self.table.get((month, currency))


@dataclass(frozen=True)
class AccountReports:
    """One account's reports for the consolidation: ``report`` for the whole period (sections
    :data:`SECTIONS`), and ``months`` — for each month of the period (YYYY-MM) its report of that
    month's days (at least :data:`MONTH_SECTIONS`), from which its money is converted. An
    account already in the reporting currency needs no ``months``."""

    name: str
    label: str
    report: Report
    months: Mapping[str, Report]


@dataclass(frozen=True)
class Counts:
    """Additive figures: each field sums across accounts; the ratios are properties computed
    from the sums. ``*_total`` fields are an average's numerator (average × its count)."""

    leads: int = 0
    answered: int = 0
    without_response: int = 0
    within_sla: int = 0
    response_hours_total: float = 0.0
    won: int = 0
    lost: int = 0
    won_without_price: int = 0
    cycle_days_total: float = 0.0
    open_deals: int = 0
    tasks_total: int = 0
    tasks_completed: int = 0
    on_time: int = 0
    overdue: int = 0
    meetings_scheduled: int = 0
    meetings_held: int = 0
    calls_outgoing: int = 0
    calls_incoming: int = 0
    call_minutes: float = 0.0
    messages_outgoing: int = 0
    messages_incoming: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                         for f in fields(self)})  # fmt: skip

    @property
    def response_avg_hours(self) -> float | None:
        return ratio(self.response_hours_total, self.answered)

    @property
    def within_sla_pct(self) -> float | None:
        return pct(self.within_sla, self.leads)

    @property
    def win_rate_pct(self) -> float | None:
        return pct(self.won, self.won + self.lost)

    @property
    def sales_cycle_avg_days(self) -> float | None:
        return ratio(self.cycle_days_total, self.won)

    @property
    def completion_rate_pct(self) -> float | None:
        return pct(self.tasks_completed, self.tasks_total)

    @property
    def on_time_rate_pct(self) -> float | None:
        return pct(self.on_time, self.tasks_completed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("response_avg_hours", "within_sla_pct", "win_rate_pct",
                     "sales_cycle_avg_days", "completion_rate_pct", "on_time_rate_pct"):  # fmt: skip
            out[name] = getattr(self, name)
        return out


def _share(percent: float | None, whole: int) -> int:
    """The count behind a report's percentage of ``whole`` (the report keeps the percentage
    unrounded, so rounding gives the count back exactly)."""
    return 0 if percent is None else round(percent * whole / 100)


def counts_of(report: Report) -> Counts:
    """A report's additive figures."""
    leads = section(report.leads, "leads")
    rt = leads.response_time
    sales = section(report.sales, "sales")
    acts = section(report.activities, "activities")
    forecast = section(report.forecast, "forecast")
    return Counts(
        leads=leads.total,
        answered=rt.answered,
        without_response=rt.without_response,
        within_sla=_share(rt.within_sla_pct, leads.total),
        response_hours_total=(rt.avg_hours or 0.0) * rt.answered,
        won=sales.won,
        lost=sales.lost,
        won_without_price=sales.won_without_price,
        cycle_days_total=(sales.sales_cycle_avg_days or 0.0) * sales.won,
        open_deals=sum(s.deals for s in forecast.open_pipeline),
        tasks_total=acts.tasks_total,
        tasks_completed=acts.tasks_completed,
        on_time=_share(acts.on_time_rate_pct, acts.tasks_completed),
        overdue=acts.overdue,
        meetings_scheduled=acts.meetings_scheduled,
        meetings_held=acts.meetings_held,
        calls_outgoing=acts.calls_outgoing,
        calls_incoming=acts.calls_incoming,
        call_minutes=acts.call_minutes,
        messages_outgoing=acts.messages_outgoing,
        messages_incoming=acts.messages_incoming,
    )


@dataclass(frozen=True)
class Money:
    """Money of one account, or of all: revenue and imported costs of the period, and the open
    pipeline's value at as_of. ``cost`` is None when no cost was imported (never 0)."""

    revenue: float
    open_value: float
    cost: float | None

    def avg_ticket(self, counts: Counts) -> float | None:
        return ratio(self.revenue, counts.won)

    def cost_per_lead(self, counts: Counts) -> float | None:
        return ratio(self.cost, counts.leads) if self.cost is not None else None

    def to_dict(self, counts: Counts) -> dict[str, Any]:
        return {
            "revenue": self.revenue,
            "avg_ticket": self.avg_ticket(counts),
            "open_value": self.open_value,
            "cost": self.cost,
            "cost_per_lead": self.cost_per_lead(counts),
        }


def money_of(report: Report) -> Money:
    """A report's money, in its own currency."""
    forecast = section(report.forecast, "forecast")
    return Money(
        revenue=section(report.sales, "sales").revenue,
        open_value=sum(s.value for s in forecast.open_pipeline),
        cost=section(report.leads, "leads").cost.total,
    )


@dataclass(frozen=True)
class MissingRate:
    """A rate the consolidation needs and the user has not supplied."""

    month: str
    currency: str
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class AccountColumn:
    """One account side by side with the others: its figures in its own currency and time
    zone, and its money in the reporting currency when every rate it needs is known."""

    name: str
    label: str
    currency: str | None
    timezone: str
    counts: Counts
    money: Money
    converted: Money | None
    # Never summed: each account's own.
    response_median_hours: float | None
    sales_cycle_median_days: float | None
    report: Report

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "currency": self.currency,
            "timezone": self.timezone,
            **self.counts.to_dict(),
            **self.money.to_dict(self.counts),
            "response_median_hours": self.response_median_hours,
            "sales_cycle_median_days": self.sales_cycle_median_days,
            "converted": None if self.converted is None else self.converted.to_dict(self.counts),
        }


@dataclass(frozen=True)
class FunnelStage:
    """One common stage of the consolidated funnel."""

    name: str
    reached: int
    by_account: dict[str, int]
    conversion_to_next_pct: float | None


@dataclass(frozen=True)
class StageRef:
    """A stage of one account's pipeline (names as the account has them)."""

    account: str
    pipeline_id: int
    pipeline: str | None
    status_id: int
    stage: str | None


@dataclass(frozen=True)
class MapRow:
    """One row of the stage mapping: pipeline and stage by id or name, as the user wrote them."""

    account: str
    pipeline: str
    stage: str
    common_stage: str


@dataclass(frozen=True)
class ConsolidatedFunnel:
    stages: list[FunnelStage]
    won: int
    unmapped: list[StageRef]  # the chosen accounts' stages no row maps: listed, not dropped
    unmatched: list[MapRow]  # rows naming a pipeline or stage the account's funnel lacks

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [vars(s) for s in self.stages],
            "won": self.won,
            "unmapped": [vars(s) for s in self.unmapped],
            "unmatched": [vars(r) for r in self.unmatched],
        }


@dataclass(frozen=True)
class Consolidated:
    """The consolidated view. ``money`` is None when a rate is missing (``missing_rates``) or an
    account's currency is unknown (``without_currency``); ``counts`` need no rate."""

    start: date
    end: date
    as_of: datetime
    currency: str
    accounts: list[AccountColumn]
    counts: Counts
    money: Money | None
    missing_rates: list[MissingRate]
    without_currency: list[str]
    funnel: ConsolidatedFunnel | None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "period": {"from": self.start.isoformat(), "to": self.end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "accounts": [a.to_dict() for a in self.accounts],
            "total": {
                **self.counts.to_dict(),
                "money": None if self.money is None else self.money.to_dict(self.counts),
            },
            "missing_rates": [vars(m) | {"accounts": list(m.accounts)} for m in self.missing_rates],
            "without_currency": self.without_currency,
            "funnel": None if self.funnel is None else self.funnel.to_dict(),
        }


def _needed_months(item: AccountReports) -> list[str]:
    """The months whose rate an account's money needs: every month of the period, and the
    month of as_of (the open pipeline is valued then)."""
    report = item.report
    months = [m for m, _, _ in month_slices(report.period.start, report.period.end)]
    as_of_month = section(report.forecast, "forecast").month
    return months + ([as_of_month] if as_of_month not in months else [])


def converted(item: AccountReports, rates: Rates) -> Money | None:
    """An account's money in the reporting currency: each month's revenue and cost at that
    month's rate, the open pipeline at the rate of as_of's month; None when a rate is missing."""
    report = item.report
    currency = report.currency
    if currency is None:
        return None
    own = money_of(report)
    if currency == rates.reporting:
        return own
    needed = _needed_months(item)
    if any(rates.rate(m, currency) is None for m in needed):
        return None
    revenue = 0.0
    cost = 0.0
    for month, _, _ in month_slices(report.period.start, report.period.end):
        sliced = item.months[month]
        rate = rates.rate(month, currency) or 0.0
        revenue += section(sliced.sales, "sales").revenue * rate
        # A month without cost rows adds nothing to the period's cost (the period's total is
        # the sum of its rows); whether costs are known at all is the whole period's answer.
        cost += (section(sliced.leads, "leads").cost.total or 0.0) * rate
    open_month = section(report.forecast, "forecast").month
    as_of_rate = rates.rate(open_month, currency) or 0.0
    return Money(
        revenue=revenue,
        open_value=own.open_value * as_of_rate,
        cost=cost if own.cost is not None else None,
    )


def _column(item: AccountReports, rates: Rates) -> AccountColumn:
    report = item.report
    return AccountColumn(
        name=item.name,
        label=item.label,
        currency=report.currency,
        timezone=report.period.timezone,
        counts=counts_of(report),
        money=money_of(report),
        converted=converted(item, rates),
        response_median_hours=section(report.leads, "leads").response_time.median_hours,
        sales_cycle_median_days=section(report.sales, "sales").sales_cycle_median_days,
        report=report,
    )


def missing_rates(items: Sequence[AccountReports], rates: Rates) -> list[MissingRate]:
    """Every (month, currency) pair the chosen accounts need and the rates lack, by month."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for item in items:
        currency = item.report.currency
        if currency is None:
            continue
        for month in _needed_months(item):
            if rates.rate(month, currency) is None:
                wanted.setdefault((month, currency), []).append(item.name)
    return [MissingRate(m, c, tuple(names)) for (m, c), names in sorted(wanted.items())]


def consolidate(
    items: Sequence[AccountReports],
    rates: Rates,
    mapping: Sequence[MapRow] | None = None,
) -> Consolidated:
    """The chosen accounts side by side and summed (see the module's description)."""
    if not items:
        raise ValueError("consolidate needs at least one account")
    columns = [_column(item, rates) for item in items]
    counts = sum((c.counts for c in columns), Counts())
    missing = missing_rates(items, rates)
    without_currency = [c.name for c in columns if c.currency is None]
    money: Money | None = None
    if not missing and not without_currency:
        known = [c.converted for c in columns if c.converted is not None]
        costs = [m.cost for m in known]
        money = Money(
            revenue=sum(m.revenue for m in known),
            open_value=sum(m.open_value for m in known),
            # One account without imported costs makes the sum a part, not the total.
            cost=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        )
    first = items[0].report
    return Consolidated(
        start=first.period.start,
        end=first.period.end,
        as_of=first.as_of,
        currency=rates.reporting,
        accounts=columns,
        counts=counts,
        money=money,
        missing_rates=missing,
        without_currency=without_currency,
        funnel=funnel(items, mapping) if mapping else None,
    )


# -- the consolidated funnel ----------------------------------------------------------------------


def plain_name(text: str | None) -> str:
    """How a mapping row's pipeline or stage name is compared with the account's: inner spaces
    collapsed, case-folded."""
    return " ".join((text or "").split()).casefold()


T = TypeVar("T")


def _one(items: Sequence[T], wanted: str, key: Callable[[T], int], name: Callable[[T], str | None]
         ) -> T | None:  # fmt: skip
    """The item ``wanted`` names by id, else by name — when only one has that name: Kommo lets
    two pipelines (or two stages of one) share a name, and a row naming it could be either."""
    by_id = [i for i in items if wanted.strip() == str(key(i))]
    if by_id:
        return by_id[0]
    named = [i for i in items if plain_name(name(i)) == plain_name(wanted)]
    return named[0] if len(named) == 1 else None


def _find_pipeline(pipelines: Sequence[Pipeline], wanted: str) -> Pipeline | None:
    return _one(pipelines, wanted, lambda p: p.pipeline_id, lambda p: p.name)


def funnel(items: Sequence[AccountReports], mapping: Sequence[MapRow]) -> ConsolidatedFunnel:
    """The consolidated funnel of the mapping's common stages, in the order they first appear
    in it. ``reached`` of a common stage sums, over every account's pipeline, the leads of that
    pipeline's cohort that reached it: when several stages of one pipeline map to the same
    common stage, a lead that reached the later one also reached the earlier one, so the
    pipeline counts the largest of their ``reached`` (its earliest), never their sum. Leads of
    different pipelines and accounts are different leads, so those add up. Conversion to the
    next common stage is recomputed from the sums; after the last one, the mapped pipelines'
    won leads over its reached. A stage no row maps is listed in ``unmapped``; a row whose
    pipeline or stage the account does not have, in ``unmatched``."""
    by_name = {item.name: item for item in items}
    order: list[str] = []
    # (account, pipeline id) → common stage → reached
    reached: dict[tuple[str, int], dict[str, int]] = {}
    mapped: set[tuple[str, int, int]] = set()
    unmatched: list[MapRow] = []
    for row in mapping:
        item = by_name.get(row.account)
        if item is None:
            continue  # an account not chosen for this view
        pipelines = section(item.report.funnel, "funnel")
        pipeline = _find_pipeline(pipelines, row.pipeline)
        stage = None
        if pipeline is not None:
            stage = _one(pipeline.stages, row.stage, lambda s: s.status_id, lambda s: s.name)
        if pipeline is None or stage is None:
            unmatched.append(row)
            continue
        if row.common_stage not in order:
            order.append(row.common_stage)
        mapped.add((row.account, pipeline.pipeline_id, stage.status_id))
        per = reached.setdefault((row.account, pipeline.pipeline_id), {})
        per[row.common_stage] = max(per.get(row.common_stage, 0), stage.reached)
    totals = dict.fromkeys(order, 0)
    by_account: dict[str, dict[str, int]] = {name: {} for name in order}
    for (account, _), per in reached.items():
        for name, n in per.items():
            totals[name] += n
            by_account[name][account] = by_account[name].get(account, 0) + n
    won = 0
    unmapped: list[StageRef] = []
    for item in items:
        for p in section(item.report.funnel, "funnel"):
            if (item.name, p.pipeline_id) in reached:
                won += p.won
            unmapped += [StageRef(item.name, p.pipeline_id, p.name, s.status_id, s.name)
                         for s in p.stages
                         if (item.name, p.pipeline_id, s.status_id) not in mapped]  # fmt: skip
    stages = []
    for i, name in enumerate(order):
        after = totals[order[i + 1]] if i + 1 < len(order) else won
        stages.append(FunnelStage(name, totals[name], by_account[name], pct(after, totals[name])))
    return ConsolidatedFunnel(stages, won, unmapped, unmatched)
