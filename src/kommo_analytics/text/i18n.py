"""Every string the dashboard shows, in the languages of :mod:`kommo_analytics.text.languages`
(Brazilian Portuguese first).

Messages live in one catalogue per page (``text/locales/*.toml``) and are looked up by key
with :func:`t`; numbers, money, dates and durations are formatted by Babel for the chosen
locale, never by hand, so a thousands separator or a date order cannot differ between pages.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, timedelta, tzinfo
from importlib import resources
from typing import Final

from babel import Locale as BabelLocale
from babel.dates import (
    format_date,
    format_datetime,
    format_interval,
    format_skeleton,
    format_timedelta,
)
from babel.numbers import (
    format_compact_currency,
    format_compact_decimal,
    format_currency,
    format_decimal,
)

from kommo_analytics.text.languages import (
    DASHBOARD_DEFAULT,
    LOCALES,
    Locale,
    babel_id,
    closest,
    display_name,
)
from kommo_analytics.workdays import WorkCalendar

DEFAULT_LOCALE: Final[Locale] = DASHBOARD_DEFAULT

# Streamlit's date input accepts only these three orders; each matches Babel's short date order.
DATE_INPUT_FORMAT: Final[dict[Locale, str]] = {
    "pt-BR": "DD/MM/YYYY",
    "es": "DD/MM/YYYY",
    "en": "MM/DD/YYYY",
}

# momentJS patterns for Streamlit's datetime columns, which stay sortable as datetimes (a column
# of formatted text would sort 10/01 before 09/02).
DATETIME_COLUMN_FORMAT: Final[dict[Locale, str]] = {
    "pt-BR": "DD/MM/YYYY HH:mm",
    "es": "DD/MM/YYYY HH:mm",
    "en": "MM/DD/YYYY h:mm A",
}


class CatalogueError(ValueError):
    """A catalogue in ``text/locales/`` is malformed (an editing mistake, caught at import)."""


def _load_catalogues() -> dict[Locale, dict[str, str]]:
    """Every page's catalogue (``text/locales/*.toml``, one table per locale) merged into one
    dictionary per locale. Each page keeps its strings in its own file; a key defined twice is a
    bug caught at import, not a string silently replaced."""
    messages: dict[Locale, dict[str, str]] = {locale: {} for locale in LOCALES}
    folder = resources.files("kommo_analytics.text") / "locales"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        catalogue = tomllib.loads(entry.read_text(encoding="utf-8"))
        unknown = sorted(set(catalogue) - set(LOCALES))
        if unknown:
            raise CatalogueError(f"{entry.name}: unknown locale table(s) {', '.join(unknown)}")
        for locale in LOCALES:
            for key, text in catalogue.get(locale, {}).items():
                if key in messages[locale]:
                    raise CatalogueError(f"{entry.name}: {key!r} ({locale}) is defined twice")
                messages[locale][key] = text
    return messages


MESSAGES: Final[dict[Locale, dict[str, str]]] = _load_catalogues()


def normalise_locale(value: str | None) -> Locale:
    """A supported locale for `value` (as found in a URL), or the default."""
    return DEFAULT_LOCALE if value is None else closest(value, DEFAULT_LOCALE)


def t(key: str, locale: Locale, **values: object) -> str:
    """The message `key` in `locale`, with `{placeholders}` filled from `values`.

    A key missing from a locale is a bug the catalogue test catches; at run time it falls back
    to the default locale rather than showing a key to a user.
    """
    template = MESSAGES[locale].get(key) or MESSAGES[DEFAULT_LOCALE][key]
    return template.format(**values) if values else template


# A message the CLI prints too may have a dashboard wording, `<key>.app`: the CLI names the
# command that fixes something, the dashboard the button (or the person) that does it.
APP_SUFFIX: Final = ".app"


def t_app(key: str, locale: Locale, **values: object) -> str:
    """The dashboard's wording of `key`: `<key>.app` when the catalogue has one, else `key`
    (placeholders the chosen text does not use are ignored)."""
    app_key = key + APP_SUFFIX
    return t(app_key if app_key in MESSAGES[DEFAULT_LOCALE] else key, locale, **values)


def tn(key: str, count: int, locale: Locale, **values: object) -> str:
    """A message with a count: `key_one` for exactly one, `key_other` otherwise (all three
    locales pluralise that way), with the count formatted for the locale."""
    suffix = "one" if count == 1 else "other"
    return t(f"{key}_{suffix}", locale, count=number(count, locale), **values)


def babel_locale(locale: Locale) -> str:
    return babel_id(locale)


def number(value: float, locale: Locale) -> str:
    return format_decimal(value, locale=babel_id(locale))


def money(value: float | None, currency: str, locale: Locale, *, whole: bool = False) -> str:
    """``whole``: no cents — for estimates (a forecast's range), where cents would claim a
    precision the number does not have."""
    if value is None:
        return ""
    if not whole:
        return format_currency(value, currency, locale=babel_id(locale))
    pattern = BabelLocale.parse(babel_id(locale)).currency_formats["standard"].pattern
    return format_currency(
        value,
        currency,
        format=re.sub(r"\.0+", "", pattern),
        locale=babel_id(locale),
        currency_digits=False,
    )


def compact_money(value: float, currency: str | None, locale: Locale) -> str:
    """Money rounded to thousands or millions as the locale abbreviates them, for chart axes
    ("R$ 25 mil", "25 mil BRL", "R$25K"); a plain compact number without a currency."""
    if currency:
        return format_compact_currency(value, currency, locale=babel_id(locale), fraction_digits=1)
    return format_compact_decimal(value, locale=babel_id(locale), fraction_digits=1)


def day_month(value: date, locale: Locale) -> str:
    """A day without its year, as the locale abbreviates it ("8 de nov.", "8 nov", "Nov 8")."""
    return format_skeleton("MMMd", value, locale=babel_id(locale))


def month_name(value: date, locale: Locale) -> str:
    """A month and its year as the locale writes them ("novembro de 2026", "November 2026")."""
    return format_skeleton("yMMMM", value, locale=babel_id(locale))


def month_only(value: date, locale: Locale) -> str:
    """A month's name alone, as it stands in a sentence ("dezembro", "diciembre", "December")."""
    # A pattern, not a skeleton: Babel's skeleton "MMMM" falls back to the abbreviation ("dez.").
    return format_date(value, "MMMM", locale=babel_id(locale))


def moment(value: datetime, zone: tzinfo, locale: Locale) -> str:
    """A point in time as the locale writes it (short date and time), in `zone`."""
    return format_datetime(value, "short", tzinfo=zone, locale=babel_id(locale))


def duration(value: timedelta, locale: Locale) -> str:
    return format_timedelta(value, format="short", locale=babel_id(locale))


def ago(then: datetime, now: datetime, locale: Locale) -> str:
    """How long before `now` `then` was ("3 hours ago"); a time after `now` (a server clock
    ahead of this one) reads as "in 3 hours" rather than being hidden."""
    return format_timedelta(then - now, add_direction=True, locale=babel_id(locale))


def date_range(start: date, end: date, locale: Locale) -> str:
    """An inclusive day range as the locale writes it ("1 – 25 de nov. de 2026")."""
    return format_interval(start, end, "yMMMd", locale=babel_id(locale))


def holiday_calendar(calendar: WorkCalendar, locale: Locale) -> str:
    """Whose holidays the working days leave out, for people: "Brasil (BR-SP)" (the country as
    the locale names it), or weekends only and why."""
    if calendar.country is None or calendar.code is None:
        if calendar.account_country:
            return t("calendar.weekends_only_account", locale, value=calendar.account_country)
        return t("calendar.weekends_only", locale)
    names = BabelLocale.parse(babel_id(locale)).territories
    country = names.get(calendar.country, calendar.country)
    return t("calendar.country", locale, country=country, code=calendar.code)


def language_name(locale: Locale) -> str:
    """How the language names itself ("Español"), for the language picker."""
    return display_name(locale)


__all__ = [
    "DATETIME_COLUMN_FORMAT",
    "DATE_INPUT_FORMAT",
    "DEFAULT_LOCALE",
    "LOCALES",
    "MESSAGES",
    "CatalogueError",
    "Locale",
    "ago",
    "babel_locale",
    "compact_money",
    "date_range",
    "day_month",
    "duration",
    "holiday_calendar",
    "language_name",
    "moment",
    "money",
    "month_name",
    "month_only",
    "normalise_locale",
    "number",
    "t",
    "tn",
]
