"""The languages Kommo Analytics speaks: the one list every catalogue, page and document follows.

Adding a language means adding a row here; the catalogue tests then name every text still
missing in it (dashboard catalogues in ``text/locales/``, metric definitions in
``text/definitions.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# The codes as written in catalogues, URLs (`?lang=`) and `--lang` options (BCP 47 tags).
Locale = Literal["pt-BR", "es", "en"]


@dataclass(frozen=True)
class Language:
    code: Locale
    # How the language names itself: the language picker shows every name in its own language,
    # so a reader who landed on the wrong one can find theirs.
    name: str
    # Babel (CLDR) spells locales with an underscore.
    babel: str


# In the order the language picker lists them: the Brazilian market first.
LANGUAGES: Final[tuple[Language, ...]] = (
    Language("pt-BR", "Português (Brasil)", "pt_BR"),
    Language("es", "Español", "es"),
    Language("en", "English", "en"),
)
LOCALES: Final[tuple[Locale, ...]] = tuple(language.code for language in LANGUAGES)
BY_CODE: Final[dict[Locale, Language]] = {language.code: language for language in LANGUAGES}

# The dashboard opens in Brazilian Portuguese (its users' language); documents written for the
# repository (docs/metrics.md) and texts missing a translation fall back to English.
DASHBOARD_DEFAULT: Final[Locale] = "pt-BR"
DOCUMENT_DEFAULT: Final[Locale] = "en"


def display_name(code: Locale) -> str:
    return BY_CODE[code].name


def babel_id(code: Locale) -> str:
    return BY_CODE[code].babel


def closest(tag: str, default: Locale) -> Locale:
    """The supported locale for a language tag: an exact match ignoring case and ``_``/``-``
    ("pt_br" → "pt-BR"), else the first with the same base language ("pt" → "pt-BR",
    "es-MX" → "es"), else `default`."""
    wanted = tag.replace("_", "-").strip().lower()
    for code in LOCALES:
        if code.lower() == wanted:
            return code
    base = wanted.split("-")[0]
    for code in LOCALES:
        if code.lower().split("-")[0] == base:
            return code
    return default


__all__ = [
    "BY_CODE",
    "DASHBOARD_DEFAULT",
    "DOCUMENT_DEFAULT",
    "LANGUAGES",
    "LOCALES",
    "Language",
    "Locale",
    "babel_id",
    "closest",
    "display_name",
]
