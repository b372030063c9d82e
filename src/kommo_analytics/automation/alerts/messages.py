"""Notices into words: one message per evaluation, in ``REPORT_LANGUAGE``, numbers, money and
times formatted by Babel (text/i18n.py). Catalogue: text/locales/alerts.toml."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

from kommo_analytics.automation.alerts.conditions import Level, Line, Moment, Money, Percent, Value
from kommo_analytics.automation.alerts.state import Kind, Notice
from kommo_analytics.text import i18n
from kommo_analytics.text.i18n import Locale, t


@dataclass(frozen=True)
class Item:
    """One notice, written out: what the structured payloads (generic webhook) carry."""

    key: str
    trigger: str
    level: str
    status: str  # new, repeat, resolved
    title: str
    text: str


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # the whole message as plain text (e-mail body, chat text)
    items: tuple[Item, ...]


def _value(value: Value, locale: Locale, zone: tzinfo) -> str:
    if isinstance(value, Money):
        if value.currency:
            return i18n.money(value.amount, value.currency, locale)
        return i18n.number(round(value.amount, 2), locale)
    if isinstance(value, Percent):
        return f"{i18n.number(round(100 * value.share, 1), locale)} %"
    if isinstance(value, Moment):
        return i18n.moment(value.at, zone, locale)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return i18n.number(value, locale)
    return value


def line_text(line: Line, locale: Locale, zone: tzinfo = UTC) -> str:
    values = {k: _value(v, locale, zone) for k, v in line.values.items()}
    text = t(line.key, locale, **values)
    return f"{line.subject}: {text}" if line.subject else text


def _heading(notice: Notice, locale: Locale, zone: tzinfo) -> str:
    title = line_text(notice.title, locale, zone)
    if notice.kind is Kind.RESOLVED:
        return t("alert.heading.resolved", locale, title=title)
    level = t(f"alert.level.{notice.level}", locale)
    if notice.kind is Kind.REPEAT:
        since = i18n.moment(notice.first_seen, zone, locale)
        return t("alert.heading.repeat", locale, level=level, title=title, since=since)
    return t("alert.heading.new", locale, level=level, title=title)


def _item(notice: Notice, locale: Locale, zone: tzinfo) -> Item:
    heading = _heading(notice, locale, zone)
    lines = [] if notice.condition is None else list(notice.condition.lines)
    body = "\n".join(f"• {line_text(line, locale, zone)}" for line in lines)
    return Item(
        key=notice.key,
        trigger=notice.trigger,
        level=str(notice.level),
        status=str(notice.kind),
        title=line_text(notice.title, locale, zone),
        text=f"{heading}\n{body}" if body else heading,
    )


def compose(notices: Sequence[Notice], locale: Locale, zone: tzinfo = UTC) -> Message:
    """One message for all of an evaluation's notices, the critical new ones first."""

    def order(n: Notice) -> tuple[int, int]:
        kind = {Kind.NEW: 0, Kind.REPEAT: 1, Kind.RESOLVED: 2}[n.kind]
        return (kind, -n.level.rank)

    ordered = sorted(notices, key=order)
    items = tuple(_item(n, locale, zone) for n in ordered)
    first = ordered[0]
    if len(ordered) == 1:
        subject = _heading(first, locale, zone)
    else:
        subject = t(
            "alert.subject.many",
            locale,
            count=i18n.number(len(ordered), locale),
            first=_heading(first, locale, zone),
        )
    prefix = t("alert.product", locale)
    text = "\n\n".join(item.text for item in items)
    footer = t("alert.footer", locale)
    return Message(f"[{prefix}] {subject}", f"{text}\n\n{footer}", items)


def trial_message(locale: Locale) -> Message:
    """What `kommo-analytics alerts test` sends."""
    prefix = t("alert.product", locale)
    text = t("alert.test.text", locale)
    item = Item("test", "test", str(Level.WARNING), "test", t("alert.test.title", locale), text)
    return Message(f"[{prefix}] {t('alert.test.title', locale)}", text, (item,))
