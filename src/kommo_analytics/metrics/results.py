"""The ``metrics --json`` document as typed, immutable results.

``report.assemble`` builds the document as plain JSON data; :meth:`Report.from_dict` checks it
against these models and :meth:`Report.to_json_dict` gives it back unchanged, key order
included. Field order is the document's key order, and every model forbids unknown keys, so a
key added to an ``assemble`` without a type here fails a test instead of slipping through.

What each number means is in ``definitions.toml`` (and ``docs/metrics.md``), not repeated here.
Names from the account's dictionaries (pipelines, stages, users) are ``str | None``: the model
keeps a NULL name as NULL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer


class _Result(BaseModel):
    # Strict: a float where an int belongs (or a bool where a number belongs) is a bug in
    # assemble, not something to coerce quietly. Dates and datetimes opt out per field: the
    # document carries them as ISO text. NaN is refused: the contract's "no value" is null, and
    # json.dumps would print NaN, which is not JSON.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# -- the frame: what the report is for ------------------------------------------------------------


class Period(_Result):
    """The reporting period: calendar dates in the account's time zone, both inclusive."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    start: Annotated[date, Field(alias="from", strict=False)]
    end: Annotated[date, Field(alias="to", strict=False)]
    timezone: str


class Filters(_Result):
    """The filters the report was computed under (empty lists: no filter)."""

    pipelines: list[int]
    sellers: list[int]
    channels: list[str]


# -- module 1: intake -----------------------------------------------------------------------------


class ResponseTime(_Result):
    """First-response times of the leads created in the period."""

    avg_hours: float | None
    median_hours: float | None
    within_sla_pct: float | None
    without_response: int
    answered: int
    sla_hours: float


class ChannelCost(_Result):
    """One channel's imported cost in the period."""

    total: float
    per_lead: float | None


class LeadCost(_Result):
    """Imported costs against the period's leads; null where nothing was imported."""

    total: float | None
    per_lead: float | None
    # Every configured channel is a key; the value is null when it has no cost in the period.
    by_channel: dict[str, ChannelCost | None]
    imported: bool
    not_split_by_filter: bool


class UtmRow(_Result):
    """Leads, won deals and revenue for one value of a UTM field."""

    value: str
    leads: int
    won: int
    revenue: float
    conversion_pct: float | None


class UtmTables(_Result):
    """One table per UTM field."""

    utm_source: list[UtmRow]
    utm_medium: list[UtmRow]
    utm_campaign: list[UtmRow]


class UnknownOrigin(_Result):
    """The leads that fell through to the fallback channel, and what they lack."""

    total: int
    no_tracking_field: int
    no_tag: int
    created_by_robot: int


class Leads(_Result):
    """Module 1: lead intake and origin."""

    total: int
    # Keys are the channel rules' keys (zeros included), then any other channel seen in the data.
    by_channel: dict[str, int]
    response_time: ResponseTime
    cost: LeadCost
    utm: UtmTables
    unknown: UnknownOrigin


# -- module 2: funnel -----------------------------------------------------------------------------


class Stage(_Result):
    """One open stage of a pipeline's funnel."""

    status_id: int
    name: str | None
    reached: int
    conversion_to_next_pct: float | None
    avg_hours_in_stage: float | None
    median_hours_in_stage: float | None
    finished_stays: int
    abandoned: int
    abandonment_pct: float | None


class Pipeline(_Result):
    """Module 2: the conversion funnel of one pipeline."""

    pipeline_id: int
    name: str | None
    leads: int
    won: int
    stages: list[Stage]
    bottleneck_status_id: int | None
    open_deals: int
    sales_velocity_per_day: float | None


# -- module 3: activities -------------------------------------------------------------------------


class Activities(_Result):
    """Module 3: tasks, calls and messages, for everyone in the filters."""

    tasks_total: int
    tasks_completed: int
    completion_rate_pct: float | None
    on_time_rate_pct: float | None
    overdue: int
    overdue_in_period: int
    follow_ups_total: int
    follow_ups_completed: int
    meetings_scheduled: int
    meetings_held: int
    calls_outgoing: int
    calls_incoming: int
    call_minutes: float
    messages_outgoing: int
    messages_incoming: int
    emails_outgoing: int
    emails_incoming: int
    sms_outgoing: int


# -- module 4: sales ------------------------------------------------------------------------------


class LossReason(_Result):
    """Lost deals with one loss reason."""

    reason: str
    count: int
    value: float
    share_pct: float | None


class Sales(_Result):
    """Module 4: deals closed in the period."""

    won: int
    lost: int
    win_rate_pct: float | None
    revenue: float
    avg_ticket: float | None
    won_without_price: int
    sales_cycle_avg_days: float | None
    sales_cycle_median_days: float | None
    loss_reasons: list[LossReason]


# -- module 5: performance ------------------------------------------------------------------------


class Seller(_Result):
    """Module 5: one seller's row of the ranking."""

    user_id: int
    name: str | None
    leads: int
    won: int
    lost: int
    win_rate_pct: float | None
    revenue: float
    avg_ticket: float | None
    response_time_avg_hours: float | None
    tasks_completed: int
    calls: int
    goal: float | None
    attainment_pct: float | None
    deals_goal: float | None
    rank: int


class Channel(_Result):
    """Module 5: one channel's leads, deals, revenue and cost."""

    channel: str
    leads: int
    won: int
    conversion_pct: float | None
    revenue: float
    cost: float | None
    cpl: float | None
    roi_pct: float | None


class Marketing(_Result):
    """Module 5: return on the channels that have imported costs (all null when none has)."""

    cost: float | None
    revenue: float | None
    roi_pct: float | None
    channels: list[str]


# -- module 6: forecast ---------------------------------------------------------------------------


class OpenStage(_Result):
    """Open deals in one stage at as_of."""

    pipeline_id: int
    status_id: int
    name: str | None
    deals: int
    value: float


class ForecastMonth(_Result):
    """The forecast's range for one month (the month of as_of or one of the two after it)."""

    # "YYYY-MM", as Forecast.month.
    month: str
    revenue_p10: float
    revenue_p50: float
    revenue_p90: float
    # Percentiles of simulated counts, interpolated: not always whole.
    won_deals_p10: float
    won_deals_p50: float
    won_deals_p90: float
    revenue_to_date: float
    goal: float | None
    goal_probability_pct: float | None
    risk: Literal["high", "medium", "low"] | None


class Forecast(_Result):
    """Module 6: facts about the month as_of falls in, and the forecast's range (``months``)
    when the read service ran the forecast model."""

    status: Literal["not_built", "ok", "insufficient_history"]
    note: str
    # "YYYY-MM": a month, not a day, so it stays text.
    month: str
    month_revenue_to_date: float
    month_won_deals: int
    month_goal: float | None
    month_gap_to_goal: float | None
    days_left_in_month: int
    working_days_left: int
    # The ISO code (e.g. "BR", "BR-SP") whose public holidays working_days_left leaves out;
    # None: weekends only.
    holiday_calendar: str | None
    open_pipeline: list[OpenStage]
    # Empty unless status is "ok".
    months: list[ForecastMonth]
    method: str
    seed: int | None


class DataQuality(_Result):
    """Deleted leads, left out of every metric and counted here."""

    deleted_leads: int
    deleted_leads_creation_unknown: int


# -- the report -----------------------------------------------------------------------------------

T = TypeVar("T")

# The report's sections (report.SECTIONS): absent from the document when not computed.
SECTION_FIELDS = (
    "leads",
    "funnel",
    "activities",
    "sales",
    "sellers",
    "channels",
    "marketing",
    "goals_imported",
    "forecast",
    "data_quality",
)


class Report(_Result):
    """The whole ``metrics --json`` document, or the sections of it a caller asked for."""

    period: Period
    as_of: Annotated[datetime, Field(strict=False)]
    currency: str | None
    filters: Filters
    leads: Leads | None = None
    funnel: list[Pipeline] | None = None
    activities: Activities | None = None
    sales: Sales | None = None
    sellers: list[Seller] | None = None
    channels: list[Channel] | None = None
    marketing: Marketing | None = None
    goals_imported: bool | None = None
    forecast: Forecast | None = None
    data_quality: DataQuality | None = None
    # The model build's facts, as stored (item → value): which items exist is data.
    model: dict[str, str]

    @field_serializer("as_of")
    def _as_of_text(self, value: datetime) -> str:
        # datetime.isoformat, as assemble writes it; pydantic's own format writes UTC as "Z".
        return value.isoformat()

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Self:
        """The report from its JSON data (``report.assemble``'s result or ``metrics --json``)."""
        return cls.model_validate(document)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON data ``metrics --json`` prints: the sections not computed are left out."""
        skipped = {name for name in SECTION_FIELDS if getattr(self, name) is None}
        return self.model_dump(mode="json", by_alias=True, exclude=skipped)


def section(value: T | None, name: str) -> T:
    """A section of a report that was asked for (``section(report.sales, "sales")``).

    A reader asks for the sections it shows; one it reads without having asked for it is a bug
    in that reader, said here by name instead of as an AttributeError on None.
    """
    if value is None:
        raise LookupError(f"the report has no {name!r} section: ask for it in its sections")
    return value


def kpi_values(report: Report) -> dict[str, float | None]:
    """The headline numbers, by KPI key, as the report has them (so they equal `metrics
    --json`): the Overview's cards and the weekly report's table read these."""
    leads = section(report.leads, "leads")
    sales = section(report.sales, "sales")
    acts = section(report.activities, "activities")
    marketing = section(report.marketing, "marketing")
    return {
        "leads": float(leads.total),
        "won": float(sales.won),
        "revenue": sales.revenue,
        "win_rate_pct": sales.win_rate_pct,
        "avg_ticket": sales.avg_ticket,
        "first_response_hours": leads.response_time.median_hours,
        "task_completion_pct": acts.completion_rate_pct,
        "sales_cycle_days": sales.sales_cycle_avg_days,
        "cost_per_lead": leads.cost.per_lead,
        "marketing_roi_pct": marketing.roi_pct,
    }
