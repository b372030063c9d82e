"""Account profiles: the country an emulated account is in, with its currency and time zone.

An agency's accounts differ in exactly these (docs/emulator.md, "Profiles"); the people, the
pipelines and every text stay the generator's Brazilian ones, which is enough to test that each
account's figures are read in its own currency and its own days.

Only zones without daylight saving time: the generator works in a fixed UTC offset, which is
then exact for any history it produces (America/Sao_Paulo: none since 2019; Mexico City: none
since 2022 — a history reaching back before late 2022 is computed at -06:00 all year, where the
real zone was -05:00 in summer, but the 26 months of history of an account generated from 2025
on all fall after; Bogotá and Buenos Aires: none since 1993 and 2009).

Prices are the Brazilian ones times a per-currency factor, rounded to a step that suits the
currency. The factors are illustrative (the order of magnitude of an exchange rate), not rates
anyone should convert with.
"""

from __future__ import annotations

from dataclasses import dataclass

from kommo_analytics.errors import EmulatorError

HOUR = 3_600


@dataclass(frozen=True)
class Profile:
    country: str  # ISO 3166 code, as Kommo's /account reports it
    currency: str  # ISO 4217
    currency_symbol: str
    timezone: str  # IANA zone, without DST (see the module's docstring)
    utc_offset: int  # seconds east of UTC
    price_factor: float  # prices relative to the Brazilian account's (illustrative)
    price_step: int  # prices are rounded to a multiple of this
    company_suffix: str | None  # replaces the Brazilian legal suffix of the account's name
    domain: str  # the account's e-mail and web domain: <subdomain>.<domain>

    @property
    def offset_text(self) -> str:
        """The offset as Kommo's ``datetime_settings.timezone_offset`` writes it: ``-03:00``."""
        sign = "-" if self.utc_offset < 0 else "+"
        minutes = abs(self.utc_offset) // 60
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


BR = Profile(
    country="BR", currency="BRL", currency_symbol="R$", timezone="America/Sao_Paulo",
    utc_offset=-3 * HOUR, price_factor=1.0, price_step=10, company_suffix=None, domain="com.br",
)  # fmt: skip
MX = Profile(
    country="MX", currency="MXN", currency_symbol="$", timezone="America/Mexico_City",
    utc_offset=-6 * HOUR, price_factor=3.5, price_step=10, company_suffix="S.A. de C.V.",
    domain="com.mx",
)  # fmt: skip
CO = Profile(
    country="CO", currency="COP", currency_symbol="$", timezone="America/Bogota",
    utc_offset=-5 * HOUR, price_factor=800.0, price_step=1_000, company_suffix="S.A.S.",
    domain="com.co",
)  # fmt: skip
AR = Profile(
    country="AR", currency="ARS", currency_symbol="$", timezone="America/Argentina/Buenos_Aires",
    utc_offset=-3 * HOUR, price_factor=200.0, price_step=100, company_suffix="S.R.L.",
    domain="com.ar",
)  # fmt: skip
PROFILES: dict[str, Profile] = {profile.country: profile for profile in (BR, MX, CO, AR)}


def profile_for(country: str) -> Profile:
    """The profile of ``country`` (case-insensitive)."""
    profile = PROFILES.get(country.strip().upper())
    if profile is None:
        raise EmulatorError(
            f"no emulated account profile for country {country!r}",
            hint=f"use one of: {', '.join(PROFILES)}",
        )
    return profile


def profile_of_currency(currency: str) -> Profile:
    """The profile whose currency is ``currency`` (the live mode reads it from the account)."""
    for profile in PROFILES.values():
        if profile.currency == currency:
            return profile
    return BR
