"""One evaluation: gather the facts, find the conditions, decide what is news, send it to every
channel, remember what was sent. What the scheduler and `kommo-analytics alerts run` call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from kommo_analytics.automation.alerts import channels, gather, messages, state
from kommo_analytics.automation.alerts.channels import Delivery
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import account as accounts
from kommo_analytics.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    key: str
    trigger: str
    level: str


@dataclass(frozen=True)
class Sent:
    key: str
    status: str  # new, repeat, resolved
    level: str


@dataclass
class AlertOutcome:
    """What fired, what was sent where, and what failed."""

    evaluated_at: datetime
    fired: list[Fired] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # trigger → why its facts were not read
    no_channel: bool = False  # there was news and no channel is configured

    @property
    def failed(self) -> bool:
        return bool(self.errors) or self.no_channel or any(not d.ok for d in self.deliveries)

    def to_json(self) -> dict[str, object]:
        return {
            "evaluated_at": self.evaluated_at.isoformat(),
            "fired": [f.__dict__ for f in self.fired],
            "sent": [s.__dict__ for s in self.sent],
            "deliveries": [d.to_json() for d in self.deliveries],
            "evaluated": self.evaluated,
            "skipped": self.skipped,
            "errors": self.errors,
            "no_channel": self.no_channel,
        }


def _zone(settings: Settings, url: str) -> tzinfo:
    """The account's zone for the times a message states; UTC when it cannot be read."""
    try:
        account = accounts.load(
            accounts.target(url),
            timezone_override=settings.account_timezone,
            holidays_country=settings.holidays_country,
        )
    except KommoAnalyticsError:
        account = None
    if account is None:
        return accounts.zone_of(settings.account_timezone) if settings.account_timezone else UTC
    return account.zone


def evaluate_and_send(
    settings: Settings, now: datetime, *, database_url: str | None = None
) -> AlertOutcome:
    """Evaluate every enabled trigger once and send what is news to every channel."""
    url = database_url or settings.resolved_database_url
    found = gather.evaluate(settings, url, now)
    outcome = AlertOutcome(
        now,
        fired=[Fired(c.key, c.trigger, str(c.level)) for c in found.conditions],
        evaluated=list(found.evaluated),
        skipped=dict(found.skipped),
        errors=dict(found.errors),
    )
    for trigger, error in found.errors.items():
        log.warning("alert trigger %s could not be evaluated: %s", trigger, error)
    enabled = set(settings.enabled_alert_triggers)
    cooldown = timedelta(hours=settings.alert_cooldown_hours)
    with state.locked(settings.data_dir):
        # A trigger switched off (ALERT_TRIGGERS) forgets its conditions without a word.
        before = {k: e for k, e in state.load(settings.data_dir).items() if e.trigger in enabled}
        notices, after = state.decide(
            before, found.conditions, now, cooldown, evaluated=found.evaluated
        )
        sent = False
        if notices:
            targets = channels.configured(settings)
            outcome.no_channel = not targets
            message = messages.compose(notices, settings.report_language, _zone(settings, url))
            for channel in targets:
                delivery = channel.deliver(message)
                outcome.deliveries.append(delivery)
                if delivery.ok:
                    log.info("alert sent to %s: %s", delivery.channel, message.subject)
                else:
                    log.warning(
                        "alert to %s failed: %s — %s",
                        delivery.channel,
                        delivery.error,
                        delivery.hint,
                    )
            sent = any(d.ok for d in outcome.deliveries)
            if sent:
                outcome.sent = [Sent(n.key, str(n.kind), str(n.level)) for n in notices]
        state.save(settings.data_dir, state.delivered(before, after, notices, sent))
    return outcome


def send_test(settings: Settings) -> list[Delivery]:
    """A test message to every configured channel; empty when none is configured."""
    message = messages.trial_message(settings.report_language)
    return [channel.deliver(message) for channel in channels.configured(settings)]
