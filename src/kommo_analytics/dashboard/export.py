"""Tables as files people open in a spreadsheet: CSV (UTF-8 with a BOM) and Excel."""

from __future__ import annotations

import io
from typing import Final

import pandas as pd

# Text a spreadsheet would run as a formula (OWASP "CSV injection"): lead names come from web
# forms, so an export must not turn one into a command on the manager's machine.
_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")


def _defuse(frame: pd.DataFrame, prefixes: tuple[str, ...]) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        # pandas 3 keeps text in its own string dtype, older data may be plain objects.
        if pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series):
            out[column] = [
                f"'{v}" if isinstance(v, str) and v.startswith(prefixes) else v for v in out[column]
            ]
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    # The BOM makes Excel read UTF-8 (accents in names) instead of the machine's code page.
    text = _defuse(frame, _FORMULA_PREFIXES).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
    return text.encode("utf-8-sig")


def to_xlsx(frame: pd.DataFrame, sheet: str) -> bytes:
    buffer = io.BytesIO()
    # openpyxl turns only a leading "=" into a formula; other text stays text.
    _defuse(frame, ("=",)).to_excel(buffer, index=False, sheet_name=sheet, engine="openpyxl")
    return buffer.getvalue()
