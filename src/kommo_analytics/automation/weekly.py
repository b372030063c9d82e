"""The weekly report: an ISO week's KPIs against the week before and the KPI targets, the leads
and revenue trend, funnel, top sellers, loss reasons, the month's forecast range and its risks,
and the data-quality score — as an HTML e-mail with a plain-text alternative and a PDF.

Every number comes from the read service: the week's figures are ``service/reports.report`` for
Monday to Sunday with "as of" the moment the report is made, which is what ``kommo-analytics
metrics --json --from <monday> --to <sunday>`` prints at that moment. Nothing is computed here
but the choice of what to show and how to say it.

Rendering: Jinja2 (autoescaped: seller, stage and loss-reason names come from the CRM) for the
e-mail and the PDF, which WeasyPrint prints from the same HTML; charts are matplotlib SVG
(:mod:`.charts`). Text comes from ``text/locales/report.toml`` in ``REPORT_LANGUAGE`` (or the
caller's choice), numbers, money and dates from the Babel helpers in ``text/i18n.py``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kommo_analytics import files
from kommo_analytics.automation import REPORTS_FOLDER, WEEKLY_FILE_PREFIX, charts
from kommo_analytics.automation.mail import Attachment, send_mail
from kommo_analytics.errors import ConfigError, KommoAnalyticsError
from kommo_analytics.metrics import series
from kommo_analytics.metrics.params import MetricParams
from kommo_analytics.metrics.results import (
    Forecast,
    LossReason,
    Pipeline,
    Report,
    Seller,
    kpi_values,
    section,
)
from kommo_analytics.service import account as accounts
from kommo_analytics.service import quality, reports, targets
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t

TREND_WEEKS: Final = 8  # the report's week and the seven before it
TOP_SELLERS: Final = 5
TOP_LOSS_REASONS: Final = 8
# The sections the week's KPIs and the previous week's need (the previous week's forecast and
# rankings are not shown, so their queries are not run).
KPI_SECTIONS: Final = ("leads", "activities", "sales", "marketing")
WEEK_PATTERN: Final = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")

Kind = Literal["number", "money", "pct", "hours", "days"]


# -- weeks --------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO 8601 week: Monday to Sunday, numbered within its ISO year."""

    year: int
    week: int

    def __post_init__(self) -> None:
        # date.fromisocalendar refuses week 53 of a year that has 52: the one check needed.
        date.fromisocalendar(self.year, self.week, 1)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def shifted(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def parse_week(text: str) -> IsoWeek:
    """``2026-W20`` (also ``2026W20``, ``2026-w20``) as an :class:`IsoWeek`."""
    match = WEEK_PATTERN.match(text)
    if match is not None:
        try:
            return IsoWeek(int(match.group(1)), int(match.group(2)))
        except ValueError:
            pass
    raise ConfigError(
        f"{text!r} is not an ISO week",
        hint="write it as YEAR-Wnn, e.g. 2026-W20 (weeks run Monday to Sunday, 01 to 52 or 53)",
    )


def default_week(today: date) -> IsoWeek:
    """The last complete week: the one before today's (on a Monday, the week that ended
    yesterday)."""
    return IsoWeek.of(today - timedelta(days=7))


def check_complete(week: IsoWeek, today: date) -> None:
    """A report is for a week that has ended: a week still running would compare part of a
    week against whole ones."""
    if week.sunday >= today:
        raise ConfigError(
            f"the week {week} ({week.monday.isoformat()} to {week.sunday.isoformat()}) has not "
            f"ended yet (today is {today.isoformat()} in the account's time zone)",
            hint=f"give a past week, or leave --week out for the last complete one "
            f"({default_week(today)})",
        )


# -- the typed result the templates read ----------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    """One KPI of the week, the week before, and its target when it has one."""

    key: str  # the Overview's card key: labels are ``overview.card.<key>``
    kind: Kind
    value: float | None
    previous: float | None
    target: float | None = None
    direction: Literal["higher", "lower"] = "higher"
    hit: bool | None = None  # None: no target, or no value to measure

    @property
    def is_rate(self) -> bool:
        return self.kind == "pct"


@dataclass(frozen=True)
class WeekPoint:
    """One week of the trend, by its Monday: leads created, deals won and revenue won in it."""

    monday: date
    leads: int
    won: int
    revenue: float


@dataclass(frozen=True)
class QualityScore:
    """The last data-quality check's overall score (0–100) and when it ran."""

    score: float
    checked_at: datetime


@dataclass(frozen=True)
class WeeklyReport:
    account_name: str | None
    currency: str | None
    locale: Locale
    timezone: str
    week: IsoWeek
    made_at: datetime  # "now", in the account's zone: the report's as_of
    report: Report  # the week's metric report (every section), as `metrics --json` has it
    previous: Report  # the week before: the KPI sections only
    kpis: tuple[Kpi, ...]
    trend: tuple[WeekPoint, ...]
    funnel: tuple[Pipeline, ...]
    sellers: tuple[Seller, ...]  # the top ones by the ranking's order
    sellers_total: int
    loss_reasons: tuple[LossReason, ...]
    lost: int
    forecast: Forecast
    quality: QualityScore | None
    targets_problem: str | None = None  # the targets file could not be read: said, not guessed
    charts: dict[str, str] = field(default_factory=dict)  # name → SVG text

    @property
    def file_name(self) -> str:
        return f"{WEEKLY_FILE_PREFIX}{self.week}.pdf"


# KPI key → (report path, kind, KPI target key or None). The Overview shows the same cards.
KPIS: Final[tuple[tuple[str, Kind, str | None], ...]] = (
    ("leads", "number", None),
    ("won", "number", None),
    ("revenue", "money", None),
    ("win_rate_pct", "pct", "win_rate_pct"),
    ("avg_ticket", "money", "avg_ticket"),
    ("first_response_hours", "hours", "first_response_hours"),
    ("task_completion_pct", "pct", "task_completion_pct"),
    ("sales_cycle_days", "days", "sales_cycle_days"),
    ("cost_per_lead", "money", "cost_per_lead"),
    ("marketing_roi_pct", "pct", "marketing_roi_pct"),
)


def kpis(report: Report, previous: Report, goals: dict[str, float] | None) -> tuple[Kpi, ...]:
    """The KPIs with their change and targets (``goals`` None: the targets are unknown)."""
    now, before = kpi_values(report), kpi_values(previous)
    out = []
    for key, kind, target_key in KPIS:
        spec = targets.BY_KEY[target_key] if target_key is not None else None
        goal = goals.get(target_key) if goals is not None and target_key is not None else None
        out.append(
            Kpi(
                key=key,
                kind=kind,
                value=now[key],
                previous=before[key],
                target=goal,
                direction=spec.direction if spec is not None else "higher",
                hit=(
                    targets.hit(target_key, now[key], goals)
                    if goals is not None and target_key is not None
                    else None
                ),
            )
        )
    return tuple(out)


def trend(frames: dict[str, pd.DataFrame], mondays: Sequence[date]) -> tuple[WeekPoint, ...]:
    """Each week's leads, won deals and revenue from the day series, zero for a quiet week."""
    leads = series.rebucket(frames["leads_by_day"], "week", ("channel",))
    sales = series.rebucket(frames["sales_by_day"], "week")
    leads_by = leads.groupby("bucket")["leads"].sum().to_dict() if not leads.empty else {}
    sales_by = sales.set_index("bucket").to_dict("index") if not sales.empty else {}
    return tuple(
        WeekPoint(
            monday=monday,
            leads=int(leads_by.get(monday, 0)),
            won=int(sales_by.get(monday, {}).get("won", 0)),
            revenue=float(sales_by.get(monday, {}).get("revenue", 0.0)),
        )
        for monday in mondays
    )


def latest_quality(database_url: str) -> QualityScore | None:
    """The last data-quality check's score, or None when none has run (which the report says:
    it never shows a made-up score)."""
    run = quality.latest_quality(database_url)
    if run is None:
        return None
    return QualityScore(score=float(run.score), checked_at=run.checked_at)


def build_weekly(
    settings: Settings,
    week: IsoWeek | None,
    now: datetime,
    *,
    database_url: str | None = None,
    locale: Locale | None = None,
    with_charts: bool = True,
) -> WeeklyReport:
    """The weekly report's content for ``week`` (default: the last complete week in the
    account's time zone), as of ``now``."""
    target = accounts.target_for(settings, database_url)
    acc = accounts.load_modelled(
        target,
        timezone_override=settings.account_timezone,
        holidays_country=settings.holidays_country,
    )
    if now.tzinfo is None:  # a wall-clock time (`--as-of 2026-11-25T12:00`) is the account's
        now = now.replace(tzinfo=acc.zone)
    today = acc.today(now)
    week = week or default_week(today)
    check_complete(week, today)
    lang: Locale = locale or settings.report_language

    def params_of(w: IsoWeek) -> MetricParams:
        scope = Scope(start=w.monday, end=w.sunday)
        return reports.params(acc, scope, now=now, sla_hours=settings.response_sla_hours)

    report = reports.report(target, acc, params_of(week))
    previous = reports.report(
        target, acc, params_of(week.shifted(-1)), KPI_SECTIONS, forecast_range=False
    )
    frames_params = reports.params(
        acc,
        Scope(start=week.shifted(1 - TREND_WEEKS).monday, end=week.sunday),
        now=now,
        sla_hours=settings.response_sla_hours,
    )
    frames = reports.series(target, frames_params, ("leads_by_day", "sales_by_day"))
    mondays = [week.shifted(-i).monday for i in reversed(range(TREND_WEEKS))]
    problem: str | None = None
    try:
        goals: dict[str, float] | None = targets.load(settings.data_dir)
    except ConfigError as exc:
        goals, problem = None, exc.message
    sales = section(report.sales, "sales")
    sellers = section(report.sellers, "sellers")
    weekly = WeeklyReport(
        account_name=acc.name,
        currency=acc.currency,
        locale=lang,
        timezone=acc.timezone,
        week=week,
        made_at=report.as_of,
        report=report,
        previous=previous,
        kpis=kpis(report, previous, goals),
        trend=trend(frames, mondays),
        funnel=tuple(section(report.funnel, "funnel")),
        sellers=tuple(sellers[:TOP_SELLERS]),
        sellers_total=len(sellers),
        loss_reasons=tuple(sales.loss_reasons[:TOP_LOSS_REASONS]),
        lost=sales.lost,
        forecast=section(report.forecast, "forecast"),
        quality=latest_quality(target.url),
        targets_problem=problem,
    )
    if with_charts:
        weekly.charts.update(draw_charts(weekly))
    return weekly


# -- formatting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Formats:
    """Numbers as the report writes them in ``locale``: the templates and the tests use these,
    so a test compares the PDF with ``metrics --json`` formatted the same way."""

    locale: Locale
    currency: str | None
    timezone: str = "UTC"  # the account's: moments are shown on its clock

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return i18n.number(round(value, digits) if digits else round(value), self.locale)

    def money(self, value: float | None) -> str:
        if value is None:
            return "—"
        if not self.currency:
            return self.number(value, 2)
        return i18n.money(round(value, 2), self.currency, self.locale)

    def estimate(self, value: float | None) -> str:
        """An estimated amount (the forecast's range): whole currency units."""
        if value is None:
            return "—"
        if not self.currency:
            return self.number(value)
        return i18n.money(value, self.currency, self.locale, whole=True)

    def pct(self, value: float | None) -> str:
        return "—" if value is None else f"{i18n.number(round(value, 1), self.locale)} %"

    def hours(self, value: float | None) -> str:
        if value is None:
            return "—"
        if value < 1:
            return t("unit.minutes", self.locale, value=self.number(value * 60))
        if value < 48:
            return t("unit.hours", self.locale, value=self.number(value, 1))
        return t("unit.days", self.locale, value=self.number(value / 24, 1))

    def days(self, value: float | None) -> str:
        return "—" if value is None else t("unit.days", self.locale, value=self.number(value, 1))

    def of(self, kind: Kind, value: float | None) -> str:
        formatter: dict[str, Callable[[float | None], str]] = {
            "number": self.number,
            "money": self.money,
            "pct": self.pct,
            "hours": self.hours,
            "days": self.days,
        }
        return formatter[kind](value)

    def change(self, kpi: Kpi) -> str:
        """Against the week before: percentage points for rates, a relative % otherwise."""
        if kpi.value is None or kpi.previous is None:
            return "—"
        if kpi.is_rate:
            diff = round(kpi.value - kpi.previous, 1)
            sign = "+" if diff > 0 else ""
            return t(
                "kpi.delta_points", self.locale, value=f"{sign}{i18n.number(diff, self.locale)}"
            )
        if kpi.previous == 0:
            return "—"
        relative = round(100.0 * (kpi.value - kpi.previous) / abs(kpi.previous), 1)
        sign = "+" if relative > 0 else ""
        return f"{sign}{i18n.number(relative, self.locale)} %"

    def target(self, kpi: Kpi) -> str:
        if kpi.target is None:
            return ""
        return ("≥ " if kpi.direction == "higher" else "≤ ") + self.of(kpi.kind, kpi.target)

    def day(self, value: date) -> str:
        return i18n.day_month(value, self.locale)

    def days_range(self, start: date, end: date) -> str:
        return i18n.date_range(start, end, self.locale)

    def moment(self, value: datetime) -> str:
        zone = accounts.zone_of(self.timezone)
        return i18n.moment(value if value.tzinfo else value.replace(tzinfo=zone), zone, self.locale)


def draw_charts(weekly: WeeklyReport) -> dict[str, str]:
    """The report's charts as SVG text, labelled in its language."""
    lang = weekly.locale
    mondays = [p.monday for p in weekly.trend]
    drawn = {
        "leads": charts.weekly_trend(
            mondays, [p.leads for p in weekly.trend],
            title=t("report.chart.leads", lang), locale=lang,
        ),
        "revenue": charts.weekly_trend(
            mondays, [p.revenue for p in weekly.trend],
            title=t("report.chart.revenue", lang), locale=lang,
            currency=weekly.currency, money=True,
        ),
    }  # fmt: skip
    if weekly.loss_reasons:
        drawn["losses"] = charts.horizontal_bars(
            [reason_name(r.reason, lang) for r in weekly.loss_reasons],
            [r.count for r in weekly.loss_reasons],
            title=t("report.chart.losses", lang),
            locale=lang,
        )
    return drawn


def reason_name(reason: str, locale: Locale) -> str:
    # metrics/sales.py names a loss without a reason "not specified": said in the language.
    return t("sales.reason_not_specified", locale) if reason == "not specified" else reason


# -- rendering ------------------------------------------------------------------------------------

_ENV: Final = Environment(
    loader=PackageLoader("kommo_analytics.automation", "templates"),
    # HTML is escaped (names come from the CRM); the plain-text alternative is not HTML.
    autoescape=select_autoescape(enabled_extensions=("html",), default=True),
    undefined=StrictUndefined,  # a misspelt field fails the tests, not a silent blank
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def pace_per_working_day(gap: float | None, working_days_left: int) -> float | None:
    """The revenue still needed per remaining working day: the month's gap to its goal over the
    working days left (today included); None without a gap or without a day left."""
    if gap is None or gap <= 0 or working_days_left <= 0:
        return None
    return gap / working_days_left


def forecast_lines(weekly: WeeklyReport) -> tuple[list[str], list[str]]:
    """What the forecast section says, and the risks: the current month's P10–P90 range, or why
    there is none; the goal's chance and risk, or that no goal was imported; the pace needed."""
    lang, f = weekly.locale, Formats(weekly.locale, weekly.currency, weekly.timezone)
    forecast = weekly.forecast
    month = _month_label(forecast.month, lang)
    lines: list[str] = []
    risks: list[str] = []
    current = next((m for m in forecast.months if m.month == forecast.month), None)
    if forecast.status == "ok" and current is not None:
        lines.append(
            t("report.forecast.range", lang, month=month, p10=f.estimate(current.revenue_p10),
              p50=f.estimate(current.revenue_p50), p90=f.estimate(current.revenue_p90))
        )  # fmt: skip
    elif forecast.status == "not_built":
        lines.append(t("report.forecast.not_built", lang))
    else:
        lines.append(t("report.forecast.insufficient", lang))
    lines.append(
        t("report.forecast.to_date", lang, month=month,
          revenue=f.money(forecast.month_revenue_to_date),
          won=f.number(forecast.month_won_deals))
    )  # fmt: skip
    goal = forecast.month_goal
    if goal is None:
        risks.append(t("report.forecast.no_goal", lang, month=month))
        return lines, risks
    if current is not None and current.goal_probability_pct is not None and current.risk:
        risks.append(
            t("report.forecast.chance", lang, goal=f.money(goal),
              chance=f.pct(current.goal_probability_pct),
              risk=t(f"forecast.risk.{current.risk}", lang))
        )  # fmt: skip
    per_day = pace_per_working_day(forecast.month_gap_to_goal, forecast.working_days_left)
    if forecast.month_gap_to_goal is not None and forecast.month_gap_to_goal <= 0:
        risks.append(t("report.forecast.goal_met", lang, goal=f.money(goal)))
    elif per_day is not None:
        risks.append(
            t("report.forecast.pace", lang, gap=f.money(forecast.month_gap_to_goal),
              days=f.number(forecast.working_days_left), per_day=f.money(per_day))
        )  # fmt: skip
    return lines, risks


def quality_lines(weekly: WeeklyReport) -> list[str]:
    """The data-quality score, or that no check has run yet; the deleted leads left out."""
    lang, f = weekly.locale, Formats(weekly.locale, weekly.currency, weekly.timezone)
    if weekly.quality is None:
        lines = [t("report.quality.none", lang)]
    else:
        lines = [
            t("report.quality.score", lang, score=f.number(weekly.quality.score, 1),
              at=f.moment(weekly.quality.checked_at))
        ]  # fmt: skip
    dq = weekly.report.data_quality
    if dq is not None and dq.deleted_leads:
        lines.append(t("report.quality.deleted", lang, count=f.number(dq.deleted_leads)))
    return lines


def _month_label(month: str, locale: Locale) -> str:
    year, number = (int(part) for part in month.split("-"))
    return i18n.month_name(date(year, number, 1), locale)


def _context(weekly: WeeklyReport, *, email: bool) -> dict[str, Any]:
    lang = weekly.locale

    def text(key: str, **values: object) -> str:
        return t(key, lang, **values)

    lines, risks = forecast_lines(weekly)
    marketing = section(weekly.report.marketing, "marketing")
    return {
        "w": weekly,
        "f": Formats(lang, weekly.currency, weekly.timezone),
        "t": text,
        "email": email,
        "lang": lang,
        "month": _month_label(weekly.forecast.month, lang),
        "forecast_lines": lines,
        "risks": risks,
        "quality_lines": quality_lines(weekly),
        "no_costs": marketing.cost is None,
        "reason_name": lambda r: reason_name(r, lang),
        "chart": lambda name: _data_uri(weekly.charts[name]) if name in weekly.charts else None,
    }


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def subject(weekly: WeeklyReport) -> str:
    return t(
        "report.subject",
        weekly.locale,
        account=weekly.account_name or "Kommo",
        week=weekly.week.week,
        year=weekly.week.year,
    )


def render_html(weekly: WeeklyReport, *, email: bool = False) -> str:
    """The report as HTML: for the PDF (with the charts), or the e-mail body (``email``: the
    charts are in the attached PDF — mail programs such as Gmail and Outlook do not show SVG)."""
    return _ENV.get_template("weekly.html").render(**_context(weekly, email=email))


def render_text(weekly: WeeklyReport) -> str:
    """The plain-text alternative of the e-mail."""
    return _ENV.get_template("weekly.txt").render(**_context(weekly, email=True))


def render_pdf(weekly: WeeklyReport) -> bytes:
    """The report printed to PDF by WeasyPrint (imported here: it loads Pango, which the other
    commands do not need). Its URL fetcher accepts only the data: URIs the template embeds, so
    nothing is downloaded while a report is printed, and a chart that fails is an error rather
    than a blank space."""
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    html = weasyprint.HTML(string=render_html(weekly), url_fetcher=fetcher)
    pdf = html.write_pdf()
    if pdf is None:  # only when a target file is given; defensive for the type
        raise KommoAnalyticsError("WeasyPrint returned no PDF", hint="report this as a bug")
    return bytes(pdf)


def write_pdf(pdf: bytes, path: Path) -> Path:
    """Write the PDF privately (sellers' revenue is inside), replacing one of the same week."""
    files.private_dir(path.parent)
    path.write_bytes(pdf)
    files.private_file(path)
    return path


def deliver(settings: Settings, weekly: WeeklyReport, pdf: bytes) -> tuple[str, ...]:
    """E-mail the report (HTML, plain text, the PDF attached) to ``REPORT_EMAILS``; returns the
    recipients. Raises ``ConfigError``/``DeliveryError`` from :mod:`.mail`."""
    recipients = settings.report_recipients
    send_mail(
        settings,
        recipients,
        subject(weekly),
        render_text(weekly),
        render_html(weekly, email=True),
        attachments=(Attachment(weekly.file_name, pdf),),
    )
    return recipients


def send_weekly(
    settings: Settings,
    now: datetime,
    *,
    week: IsoWeek | None = None,
    database_url: str | None = None,
) -> Path:
    """For the scheduler: build the report (default: the last complete week), keep its PDF under
    ``DATA_DIR/reports/``, e-mail it when recipients are configured; the PDF's path."""
    weekly = build_weekly(settings, week, now, database_url=database_url)
    pdf = render_pdf(weekly)
    path = write_pdf(pdf, settings.data_dir / REPORTS_FOLDER / weekly.file_name)
    if settings.report_recipients:
        deliver(settings, weekly, pdf)
    return path
