"""The facts the triggers judge, read through the read service (and the health checks).

Each trigger's facts are read on their own: one that cannot be read (no model built yet, say)
is reported and its conditions are left as they were — neither raised nor cleared — while the
others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from kommo_analytics.automation.alerts import triggers
from kommo_analytics.automation.alerts.conditions import Condition
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import account as accounts
from kommo_analytics.service import forecasts, health, health_checks, quality, watch
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import Settings


class NotAvailable(Exception):
    """A trigger's facts do not exist in this installation (not an error to report)."""


@dataclass
class Evaluation:
    """Every condition found, the triggers that could be judged, and why others could not."""

    conditions: list[Condition] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # trigger → why (not installed…)
    errors: dict[str, str] = field(default_factory=dict)  # trigger → the error, one line


def _runs(settings: Settings, url: str, now: datetime) -> list[Condition]:
    del now
    frame = health.runs(accounts.target(url), 10, data_dir=settings.data_dir)
    runs = [
        triggers.RunFact(
            status=str(r["status"]),
            started_at=None if pd.isna(r["started_at"]) else r["started_at"].to_pydatetime(),
            error=r["error"] if isinstance(r["error"], str) and r["error"] else None,
        )
        for _, r in frame.iterrows()
    ]
    return triggers.sync_failed(runs)


def _stale(settings: Settings, url: str, now: datetime) -> list[Condition]:
    checks = health_checks.warehouse_checks(url, settings.data_dir, settings, now)
    return triggers.data_stale(checks)


def _token(settings: Settings, url: str, now: datetime) -> list[Condition]:
    del url
    if not settings.has_any_kommo_setting:
        raise NotAvailable("no Kommo account is configured (a demo or emulator warehouse)")
    return triggers.token_expiring(health_checks.token_check(settings, now))


def latest_quality_errors(url: str) -> list[triggers.RuleFailure] | None:
    """The failing error-level rules of the latest data-quality run; None before the first."""
    run = quality.latest_quality(url)
    if run is None:
        return None
    return [triggers.RuleFailure(str(e.rule), int(e.failing), int(e.checked)) for e in run.errors]


def _quality(settings: Settings, url: str, now: datetime) -> list[Condition]:
    del settings, now
    return triggers.quality_errors(latest_quality_errors(url))


def _account(settings: Settings, url: str) -> accounts.Account:
    return accounts.load_modelled(
        accounts.target(url),
        timezone_override=settings.account_timezone,
        holidays_country=settings.holidays_country,
    )


def _goal(settings: Settings, url: str, now: datetime) -> list[Condition]:
    account = _account(settings, url)
    result = forecasts.forecast(accounts.target(url), account, Scope(), now=now)
    month = account.today(now).replace(day=1)
    goal = next((g for g in result.goals if g.user_id is None and g.month == month), None)
    if goal is None:
        return []
    fact = triggers.GoalFact(
        month, goal.goal, goal.p50, goal.probability, str(goal.risk), account.currency
    )
    return triggers.goal_at_risk(fact)


def _stuck(settings: Settings, url: str, now: datetime) -> list[Condition]:
    _account(settings, url)  # says what to run when no model is built
    return triggers.stuck_deals(watch.stage_watch(accounts.target(url), now))


def _volume(settings: Settings, url: str, now: datetime) -> list[Condition]:
    account = _account(settings, url)
    last = account.today(now) - timedelta(days=1)  # the last complete day
    first = last - timedelta(days=triggers.LEAD_WINDOW_DAYS)
    frame = watch.daily_channel_leads(accounts.target(url), first, last)
    days: dict[str, dict[Any, int]] = {}
    for channel, day, leads in frame.itertuples(index=False):
        days.setdefault(str(channel), {})[day] = int(leads)
    return triggers.lead_volume(
        days, last, account.calendar.is_working_day, settings.alert_channel_min_daily_leads
    )


GATHERERS: dict[str, Callable[[Settings, str, datetime], list[Condition]]] = {
    "sync_failed": _runs,
    "data_stale": _stale,
    "token_expiring": _token,
    "quality_errors": _quality,
    "goal_at_risk": _goal,
    "stuck_deals": _stuck,
    "lead_volume": _volume,
}


def evaluate(settings: Settings, url: str, now: datetime) -> Evaluation:
    """Every enabled trigger on the warehouse at ``url``."""
    out = Evaluation()
    for name in settings.enabled_alert_triggers:
        try:
            found = GATHERERS[name](settings, url, now)
        except NotAvailable as exc:
            out.skipped[name] = str(exc)
            continue
        except KommoAnalyticsError as exc:
            out.errors[name] = exc.one_line()
            continue
        out.evaluated.append(name)
        out.conditions += found
    return out
