"""The explicit inputs of every metric: period, "now", filters. Nothing here reads a clock."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kommo_analytics.errors import ConfigError
from kommo_analytics.workdays import WEEKENDS_ONLY, WorkCalendar


@dataclass(frozen=True)
class MetricParams:
    """What a set of metrics is computed for.

    ``start``/``end`` are calendar dates in the account's time zone, both inclusive. ``as_of`` is
    the moment "now" for open and overdue figures (aware; compared in UTC).
    """

    start: date
    end: date
    as_of: datetime
    timezone: str = "UTC"
    pipelines: tuple[int, ...] = ()
    sellers: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()
    sla_hours: float = 2.0
    bottleneck_min_reached: int = 20
    # Whose public holidays are not working days (the read service decides it: the setting,
    # else the account's country); weekends only when not given.
    calendar: WorkCalendar = WEEKENDS_ONLY
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ConfigError(
                f"the period ends ({self.end}) before it starts ({self.start})",
                hint="give --from a date on or before --to",
            )
        if self.as_of.tzinfo is None:
            raise ConfigError(
                "as_of needs a time zone", hint="write it like 2026-11-25T12:00-03:00"
            )
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"unknown time zone {self.timezone!r}",
                hint="use an IANA name such as America/Sao_Paulo",
            ) from exc

    # Local wall-clock bounds, compared with the model's ``*_local`` columns.
    @property
    def local_start(self) -> datetime:
        return datetime.combine(self.start, time())

    @property
    def local_end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time())

    @property
    def as_of_utc(self) -> datetime:
        """Naive UTC, like the model's ``*_at`` columns."""
        return self.as_of.astimezone(UTC).replace(tzinfo=None)

    @property
    def as_of_local(self) -> datetime:
        return self.as_of.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> MetricParams:
        """The period of the same length just before this one (for "change vs previous")."""
        length = timedelta(days=self.days)
        return MetricParams(
            start=self.start - length,
            end=self.start - timedelta(days=1),
            as_of=self.as_of,
            timezone=self.timezone,
            pipelines=self.pipelines,
            sellers=self.sellers,
            channels=self.channels,
            sla_hours=self.sla_hours,
            bottleneck_min_reached=self.bottleneck_min_reached,
            calendar=self.calendar,
        )


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def months_between(start: date, end: date) -> list[date]:
    """First days of every month the period touches."""
    months, cursor = [], month_start(start)
    while cursor <= end:
        months.append(cursor)
        cursor = (month_end(cursor) + timedelta(days=1)).replace(day=1)
    return months


def month_share(month: date, start: date, end: date) -> float:
    """The share of a month's days inside [start, end]: monthly goals are pro-rated by it."""
    first, last = max(month_start(month), start), min(month_end(month), end)
    if last < first:
        return 0.0
    return ((last - first).days + 1) / calendar.monthrange(month.year, month.month)[1]
