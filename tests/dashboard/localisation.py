"""The rules by which a text is written the English (or the raw) way where the reader's language
writes it otherwise: the dashboard's charts, cards and tooltips are checked against them in
figures (test_charts, the page tests) and in the browser (test_browser)."""

from __future__ import annotations

import re

from kommo_analytics.text.i18n import Locale

# English month names as Plotly's default date axes print them ("Oct 4", "Nov 2026"): capitalised
# and without the full stop Babel's Portuguese and Spanish abbreviations carry ("out.", "nov.").
ENGLISH_MONTH = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b(?!\.)"
    r"|\b(?:January|February|March|April|June|July|August|September|October|November|December)\b"
)
# "25.89k", "1.2M": Plotly's SI abbreviations (Babel's compact forms are words: "25 mil").
SI_SUFFIX = re.compile(r"\d[kMGT]\b")
# A decimal point where pt-BR and es write a comma. "1.500" is a thousands group there, so only
# one or two digits (or more than three) after the point count.
DECIMAL_POINT = re.compile(r"\d\.(?:\d{1,2}|\d{4,})(?!\d)")
# A raw ISO month or day ("Receita do mês 2026-12"), in any language.
ISO_DATE = re.compile(r"(?<![\d-])\d{4}-\d{2}(?:-\d{2})?(?![\d-])")
# "−0 p.p.", "-0,0 %": a sign on a zero.
NEGATIVE_ZERO = re.compile(r"(?<![\w,.])[−-]0(?:[.,]0+)?(?![.,]?\d)")


def broken_rules(text: str, locale: Locale) -> list[str]:
    """The rules `text` breaks in `locale` (none: it is written as the language writes it)."""
    rules = [(ISO_DATE, "raw ISO date"), (NEGATIVE_ZERO, "signed zero")]
    if locale != "en":
        rules += [(ENGLISH_MONTH, "English month"), (SI_SUFFIX, "SI suffix"),
                  (DECIMAL_POINT, "decimal point")]  # fmt: skip
    return [rule for pattern, rule in rules if pattern.search(text)]
