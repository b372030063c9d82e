"""The files people import by hand: marketing costs and sales goals, as CSV.

Pure parsing and validation; nothing here touches the database. A file is checked whole before
anything is returned: a bad file is refused with every bad line listed, numbered as a
spreadsheet shows them (the header is line 1), so the user fixes everything in one pass instead
of discovering errors one import at a time.

What is accepted, and why:
- UTF-8 with or without a BOM (Excel's "CSV UTF-8" writes one); :func:`read_text` also reads
  UTF-16 with a BOM and falls back to Windows-1252, which Excel's plain "CSV" uses in Brazil.
- ``,``, ``;`` or tab as the delimiter, sniffed from the header line (Excel in pt-BR saves ``;``).
- Columns matched by name, case-insensitively, in any order; unknown columns are refused so a
  typo in a header is never silently dropped.
- Amounts in both conventions (see :func:`parse_amount`), dates as ``YYYY-MM-DD`` or
  ``DD/MM/YYYY``, months as ``YYYY-MM``, ``YYYY-MM-01``, ``MM/YYYY`` or ``01/MM/YYYY``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from kommo_analytics.errors import ConfigError, InputFileError, Problem

T = TypeVar("T")

AMOUNT_HELP = "write 1234.56 or 1.234,56"
DATE_HELP = "write 2024-03-31 or 31/03/2024"
MONTH_HELP = "write 2024-03 or 03/2024"


@dataclass(frozen=True)
class CostRow:
    day: date
    channel: str
    amount: Decimal
    utm_campaign: str | None


@dataclass(frozen=True)
class GoalRow:
    month: date  # the first day of the month
    user_id: int
    revenue_goal: Decimal
    deals_goal: int | None


@dataclass(frozen=True)
class UserRef:
    id: int
    name: str | None
    email: str | None


class _Invalid(ValueError):
    """A value that cannot be used; ``reason`` reads after the quoted value."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f'"{value}" {reason}')
        self.reason = reason


# --- values -------------------------------------------------------------------------------------

_CURRENCY_SYMBOLS = ("us$", "r$", "$", "€", "£")
_GROUPED = re.compile(r"[1-9]\d{0,2}")  # the first group of a number with thousands separators


def _grouped_digits(text: str, sep: str) -> str | None:
    """``1.234.567`` with ``sep`` "." → "1234567"; None unless every group after the first
    has exactly three digits."""
    groups = text.split(sep)
    if not _GROUPED.fullmatch(groups[0]):
        return None
    if not all(len(g) == 3 and g.isdigit() for g in groups[1:]):
        return None
    return "".join(groups)


def parse_amount(text: str) -> Decimal:
    """An amount of money, written either way: ``1234.56``, ``1.234,56``, ``1,234.56``,
    ``1234,56``, ``R$ 1.234,56``, ``$1,234.56``, with spaces anywhere.

    Which separator is the decimal one:
    - both ``.`` and ``,`` present → the last one is decimal, the other groups thousands;
    - one separator, several times (``1.234.567``) → thousands;
    - one separator once, followed by exactly three digits and preceded by 1–3 digits not
      starting with 0 → **thousands**: ``1,234`` and ``1.234`` are 1234, ``1.500`` is 1500.
      Cost and goal amounts almost never have three decimals, and both Brazilian and US
      spreadsheets write thousands this way. ``0,125`` and ``1234.567`` stay decimals;
    - otherwise decimal: ``12,5`` is 12.5.

    Raises ValueError with a readable message. The sign is kept; callers refuse negatives.
    """
    original = text
    s = re.sub(r"\s", "", text)
    negative = False
    if s.startswith("-"):
        negative, s = True, s[1:]
    lowered = s.casefold()
    for symbol in _CURRENCY_SYMBOLS:
        if lowered.startswith(symbol):
            s = s[len(symbol) :]
            break
        if lowered.endswith(symbol):
            s = s[: -len(symbol)]
            break
    if not negative and s.startswith("-"):  # "R$ -100"
        negative, s = True, s[1:]
    invalid = _Invalid(original.strip(), f"is not an amount ({AMOUNT_HELP})")
    if not re.fullmatch(r"[0-9.,]*[0-9][0-9.,]*", s):
        raise invalid

    integer: str | None
    fraction = ""
    if "." in s and "," in s:
        decimal_sep = "." if s.rfind(".") > s.rfind(",") else ","
        thousands_sep = "," if decimal_sep == "." else "."
        if s.count(decimal_sep) > 1:
            raise invalid
        head, fraction = s.split(decimal_sep)
        integer = _grouped_digits(head, thousands_sep)
    elif "." in s or "," in s:
        sep = "." if "." in s else ","
        if s.count(sep) > 1:
            integer = _grouped_digits(s, sep)
        else:
            head, tail = s.split(sep)
            if len(tail) == 3 and _GROUPED.fullmatch(head):
                integer = head + tail
            else:
                integer, fraction = head or "0", tail
    else:
        integer = s
    if integer is None or not integer.isdigit() or (fraction and not fraction.isdigit()):
        raise invalid
    if fraction == "" and s[-1] in ".,":  # "12." or "12,": a number cut short
        raise invalid
    value = Decimal(f"{integer}.{fraction}" if fraction else integer)
    return -value if negative and value != 0 else value


# Amounts are stored as DECIMAL(18, 2): 16 integer digits would fit, but more than 12 (a
# trillion) is a pasted figure or a typo, never a cost or a goal.
MAX_INTEGER_DIGITS = 12


def _amount(text: str, *, what: str) -> Decimal:
    value = parse_amount(text)
    if value < 0:
        raise _Invalid(text, f"is negative; {what} cannot be below zero")
    if value >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise _Invalid(
            text,
            f"is too large for an amount (at most {MAX_INTEGER_DIGITS} digits before the "
            "decimal separator)",
        )
    return value


def _whole_number(text: str) -> int:
    s = re.sub(r"\s", "", text)
    if s.startswith("-"):
        raise _Invalid(text, "is negative; a deals goal cannot be below zero")
    if s.isdigit():
        return int(s)
    for sep in ".,":  # "1.000" deals, as a pt-BR spreadsheet formats it
        grouped = _grouped_digits(s, sep) if sep in s else None
        if grouped is not None:
            return int(grouped)
    raise _Invalid(text, "is not a whole number of deals (write 12)")


def _make_date(year: int, month: int, day: int, text: str, reason: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _Invalid(text, reason) from None


def _parse_date(text: str) -> date:
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        y, mo, d = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
        d, mo, y = (int(g) for g in m.groups())
    else:
        raise _Invalid(text, f"is not a date ({DATE_HELP})")
    return _make_date(y, mo, d, text, f"is not a real date ({DATE_HELP})")


def _parse_month(text: str) -> date:
    day = 1
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        y, mo = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        y, mo, day = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})/(\d{4})", text):
        mo, y = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
        day, mo, y = (int(g) for g in m.groups())
    else:
        raise _Invalid(text, f"is not a month ({MONTH_HELP})")
    first = _make_date(y, mo, 1, text, f"is not a real month ({MONTH_HELP})")
    if day != 1:
        # A goal is for a whole month; a mid-month date is more likely a mistake than a choice.
        raise _Invalid(text, f"is not the first day of a month ({MONTH_HELP})")
    return first


def _plain(text: str) -> str:
    """How names and e-mails are compared: NFC, inner spaces collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


# --- files -------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """A CSV file's text, decoded as the spreadsheet programs people use save it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist", hint="check the file's path") from None
    except OSError as exc:
        raise ConfigError(
            f"{path} cannot be read ({exc.strerror})", hint="check the path and permissions"
        ) from None
    return decode(data)


def decode(data: bytes) -> str:
    """A CSV file's bytes (read, or uploaded) as text: see :func:`read_text`."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV" in pt-BR/es is Windows-1252; bytes that are not UTF-8 are almost
        # always that, and a wrong guess still shows up as an unknown channel or user.
        return data.decode("cp1252", errors="replace")


@dataclass(frozen=True)
class _Layout:
    kind: str  # "costs" / "goals", for messages
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def header(self) -> str:
        return ",".join(self.required) + "".join(f"[,{c}]" for c in self.optional)


_COSTS = _Layout("costs", ("date", "channel", "amount"), ("utm_campaign",))
_GOALS = _Layout("goals", ("month", "user", "revenue_goal"), ("deals_goal",))


def _sniff_delimiter(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _read_rows(
    text: str, layout: _Layout, problems: list[Problem]
) -> list[tuple[int, dict[str, str]]]:
    """The data rows as (spreadsheet line, {column: trimmed value}); structural problems are
    appended to ``problems``, and rows that cannot be split into columns are left out."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        problems.append(
            Problem(1, None, None, f"the file is empty; the first line must be {layout.header}")
        )
        return []
    delimiter = _sniff_delimiter(first)
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # A spreadsheet shows one row per record (a quoted line break stays in its cell), so the
    # record count, not the text line count, is the number people see.
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            records.append((number, record))
    except csv.Error as exc:
        problems.append(Problem(number + 1, None, None, f"cannot be read as CSV ({exc})"))
        return []

    header_at = next(n for n, rec in records if any(v.strip() for v in rec))
    header = [name.strip().casefold() for name in dict(records)[header_at]]
    known = layout.required + layout.optional
    seen: set[str] = set()
    for name in header:
        if not name:
            continue
        if name not in known:
            problems.append(
                Problem(
                    header_at,
                    None,
                    name,
                    f"is not a column of a {layout.kind} file (the header must be {layout.header})",
                )
            )
        elif name in seen:
            problems.append(Problem(header_at, None, name, "appears twice in the header"))
        seen.add(name)
    for name in layout.required:
        if name not in seen:
            problems.append(
                Problem(
                    header_at,
                    name,
                    None,
                    f"is missing from the header (the header must be {layout.header})",
                )
            )
    if problems:
        return []

    rows: list[tuple[int, dict[str, str]]] = []
    for number, record in records:
        if number <= header_at or not any(v.strip() for v in record):
            continue  # blank lines: Excel often leaves some at the end
        extra = record[len(header) :]
        unnamed = [record[i] for i, name in enumerate(header) if not name and i < len(record)]
        if any(v.strip() for v in extra + unnamed):
            tip = (
                "; an amount with a decimal comma must be in quotes, or save the file with ; "
                "as separator"
                if delimiter == ","
                else ""
            )
            problems.append(
                Problem(
                    number,
                    None,
                    None,
                    f"has {len(record)} values but the header has {sum(1 for h in header if h)} columns{tip}",
                )
            )
            continue
        # Missing trailing cells are empty cells: some tools drop trailing delimiters.
        values = {
            name: (record[i].strip() if i < len(record) else "")
            for i, name in enumerate(header)
            if name
        }
        rows.append((number, values))
    if not rows and not problems:
        problems.append(
            Problem(header_at, None, None, "the file has a header but no data rows below it")
        )
    return rows


def _check(
    problems: list[Problem],
    line: int,
    column: str,
    raw: str,
    parse: Callable[[str], T],
    *,
    missing: str,
) -> T | None:
    if not raw:
        problems.append(Problem(line, column, None, f"is empty ({missing})"))
        return None
    try:
        return parse(raw)
    except _Invalid as exc:
        problems.append(Problem(line, column, raw, exc.reason))
        return None


def _refuse_if(problems: list[Problem], source: str) -> None:
    if problems:
        raise InputFileError(source, problems)


COSTS_COLUMNS: tuple[str, ...] = (*_COSTS.required, *_COSTS.optional)
GOALS_COLUMNS: tuple[str, ...] = (*_GOALS.required, *_GOALS.optional)


def costs_cells(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """A costs file's data rows as text, (spreadsheet line, {column: value}), and the problems
    of its layout (header, column count): what a grid shows for correcting before
    :func:`parse_costs` checks the values."""
    problems: list[Problem] = []
    rows = _read_rows(text, _COSTS, problems)
    return [(n, {c: v.get(c, "") for c in COSTS_COLUMNS}) for n, v in rows], problems


def parse_costs(text: str, *, channels: Sequence[str], source: str) -> list[CostRow]:
    """Marketing costs: ``date,channel,amount[,utm_campaign]``; a monthly cost is written on
    the month's first day. ``channels`` are the channel keys of the rules in use."""
    by_name = {key.strip().casefold(): key for key in channels}

    def channel(raw: str) -> str:
        key = by_name.get(raw.casefold())
        if key is None:
            raise _Invalid(raw, f"is not a channel (use one of: {', '.join(channels)})")
        return key

    problems: list[Problem] = []
    rows = _read_rows(text, _COSTS, problems)
    out: list[CostRow] = []
    first_line: dict[tuple[date, str, str | None], int] = {}
    for line, values in rows:
        day = _check(problems, line, "date", values["date"], _parse_date, missing=DATE_HELP)
        key = _check(
            problems, line, "channel", values["channel"], channel, missing="write a channel"
        )
        amount = _check(
            problems,
            line,
            "amount",
            values["amount"],
            lambda s: _amount(s, what="a cost"),
            missing=AMOUNT_HELP,
        )
        campaign = values.get("utm_campaign") or None
        if day is None or key is None:
            continue
        # Campaign names compare case-insensitively, as the channel rules do: "Promo" and
        # "promo" in one file would otherwise count the same spend twice.
        dup_key = (day, key, campaign.casefold() if campaign else None)
        if dup_key in first_line:
            problems.append(
                Problem(
                    line,
                    None,
                    None,
                    f"same date, channel and utm_campaign as line {first_line[dup_key]} "
                    "(add the amounts together into one row)",
                )
            )
            continue
        first_line[dup_key] = line
        if amount is not None:
            out.append(CostRow(day=day, channel=key, amount=amount, utm_campaign=campaign))
    _refuse_if(problems, source)
    return out


class _Users:
    def __init__(self, users: Sequence[UserRef]) -> None:
        self.by_id = {u.id: u for u in users}
        self.by_email: dict[str, list[UserRef]] = {}
        self.by_name: dict[str, list[UserRef]] = {}
        for u in users:
            if u.email:
                self.by_email.setdefault(_plain(u.email), []).append(u)
            if u.name:
                self.by_name.setdefault(_plain(u.name), []).append(u)

    def resolve(self, raw: str) -> int:
        if raw.isdigit() and int(raw) in self.by_id:
            return int(raw)
        for found in (self.by_email.get(_plain(raw)), self.by_name.get(_plain(raw))):
            if found and len(found) == 1:
                return found[0].id
            if found:
                ids = sorted(u.id for u in found)
                listed = ", ".join(str(i) for i in ids[:-1]) + f" and {ids[-1]}"
                raise _Invalid(
                    raw, f"matches {len(found)} users (ids {listed}); write the id or e-mail"
                )
        if raw.isdigit():
            raise _Invalid(raw, "is not the id of any user of this account")
        raise _Invalid(
            raw, "is not a user of this account (write the id, e-mail or name as in Kommo)"
        )


def parse_goals(text: str, *, users: Sequence[UserRef], source: str) -> list[GoalRow]:
    """Sales goals: ``month,user,revenue_goal[,deals_goal]``; ``user`` is an id, an e-mail
    or a name (case-insensitive) of one of ``users``."""
    index = _Users(users)
    problems: list[Problem] = []
    rows = _read_rows(text, _GOALS, problems)
    out: list[GoalRow] = []
    first_line: dict[tuple[date, int], int] = {}
    for line, values in rows:
        month = _check(problems, line, "month", values["month"], _parse_month, missing=MONTH_HELP)
        user_id = _check(
            problems,
            line,
            "user",
            values["user"],
            index.resolve,
            missing="write the user's id, e-mail or name",
        )
        revenue = _check(
            problems,
            line,
            "revenue_goal",
            values["revenue_goal"],
            lambda s: _amount(s, what="a goal"),
            missing=AMOUNT_HELP,
        )
        deals: int | None = None
        if values.get("deals_goal"):
            deals = _check(
                problems, line, "deals_goal", values["deals_goal"], _whole_number, missing=""
            )
        if month is None or user_id is None:
            continue
        if (month, user_id) in first_line:
            problems.append(
                Problem(
                    line,
                    None,
                    None,
                    f"same month and user as line {first_line[(month, user_id)]} "
                    "(keep one row per month and user)",
                )
            )
            continue
        first_line[(month, user_id)] = line
        if revenue is not None:
            out.append(
                GoalRow(month=month, user_id=user_id, revenue_goal=revenue, deals_goal=deals)
            )
    _refuse_if(problems, source)
    return out


# --- exchange rates and the stage mapping (the consolidated view of many accounts) -------------

RATE_HELP = "write 5.1234 or 5,1234: the reporting currency's units for 1 unit of from_currency"
CURRENCY_HELP = "write the currency's three-letter ISO code, e.g. BRL, USD, EUR"


@dataclass(frozen=True)
class RateRow:
    """1 ``from_currency`` = ``rate`` ``to_currency`` for money of ``month``."""

    month: date  # the first day of the month
    from_currency: str
    to_currency: str
    rate: Decimal


@dataclass(frozen=True)
class StageMapRow:
    """One account's stage and the common stage name it counts under in the consolidated
    funnel; pipeline and stage as the user wrote them (an id or a name), resolved against each
    account's funnel by the consolidation."""

    account: str
    pipeline: str
    stage: str
    common_stage: str


_RATES = _Layout("exchange rates", ("month", "from_currency", "to_currency", "rate"), ())
_STAGE_MAP = _Layout("stage mapping", ("account", "pipeline", "stage", "common_stage"), ())
RATES_COLUMNS: tuple[str, ...] = _RATES.required
STAGE_MAP_COLUMNS: tuple[str, ...] = _STAGE_MAP.required


def _currency(text: str) -> str:
    code = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise _Invalid(text, f"is not a currency code ({CURRENCY_HELP})")
    return code


def parse_rate(text: str) -> Decimal:
    """An exchange rate. Unlike an amount (:func:`parse_amount`), a rate often has three or
    four decimals, so one separator is always the decimal one (``5,123`` is 5.123, never five
    thousand); with both ``.`` and ``,`` the last one is. Zero and negatives are refused: no
    rate converts money into nothing."""
    s = re.sub(r"\s", "", text)
    if "." in s and "," in s:
        decimal_sep = "." if s.rfind(".") > s.rfind(",") else ","
        head, _, fraction = s.rpartition(decimal_sep)
        integer = _grouped_digits(head, "," if decimal_sep == "." else ".")
    elif s.count(".") + s.count(",") == 1:
        integer, _, fraction = s.replace(",", ".").partition(".")
        integer = integer or "0"
    else:
        integer, fraction = s, ""
    if integer is None or not integer.isdigit() or (fraction and not fraction.isdigit()):
        raise _Invalid(text, f"is not a rate ({RATE_HELP})")
    value = Decimal(f"{integer}.{fraction}" if fraction else integer)
    if value <= 0:
        raise _Invalid(text, "is not above zero; a rate converts 1 unit into some amount")
    if value >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise _Invalid(text, "is too large for an exchange rate")
    return value


def parse_rates(text: str, *, source: str) -> list[RateRow]:
    """Exchange rates: ``month,from_currency,to_currency,rate``, meaning 1 ``from_currency`` =
    ``rate`` ``to_currency`` for the money of that month. One row per month and pair; the
    reverse direction is a row of its own (never derived: a rate is what the user supplies)."""
    problems: list[Problem] = []
    rows = _read_rows(text, _RATES, problems)
    out: list[RateRow] = []
    first_line: dict[tuple[date, str, str], int] = {}
    for line, values in rows:
        month = _check(problems, line, "month", values["month"], _parse_month, missing=MONTH_HELP)
        source_code = _check(problems, line, "from_currency", values["from_currency"],
                             _currency, missing=CURRENCY_HELP)  # fmt: skip
        target_code = _check(problems, line, "to_currency", values["to_currency"], _currency,
                             missing=CURRENCY_HELP)  # fmt: skip
        rate = _check(problems, line, "rate", values["rate"], parse_rate, missing=RATE_HELP)
        if month is None or source_code is None or target_code is None or rate is None:
            continue
        if source_code == target_code:
            problems.append(Problem(line, "to_currency", values["to_currency"],
                                    "is the same as from_currency; money in the reporting "
                                    "currency needs no rate"))  # fmt: skip
            continue
        key = (month, source_code, target_code)
        if key in first_line:
            problems.append(Problem(line, None, None,
                                    f"same month and currencies as line {first_line[key]} "
                                    "(keep one rate per month and pair)"))  # fmt: skip
            continue
        first_line[key] = line
        out.append(RateRow(month, source_code, target_code, rate))
    _refuse_if(problems, source)
    return out


def parse_stage_map(text: str, *, accounts: Sequence[str], source: str) -> list[StageMapRow]:
    """The stage mapping: ``account,pipeline,stage,common_stage`` — the account by its name,
    pipeline and stage by id or name. ``accounts``: the install's account names. The same
    account, pipeline and stage twice is refused: it would count under two common stages."""
    known = {a.casefold(): a for a in accounts}

    def account(raw: str) -> str:
        name = known.get(raw.casefold())
        if name is None:
            raise _Invalid(
                raw, f"is not an account of this install (one of: {', '.join(accounts)})"
            )
        return name

    problems: list[Problem] = []
    rows = _read_rows(text, _STAGE_MAP, problems)
    out: list[StageMapRow] = []
    first_line: dict[tuple[str, str, str], int] = {}
    for line, values in rows:
        name = _check(problems, line, "account", values["account"], account,
                      missing="write the account's name")  # fmt: skip
        for column in ("pipeline", "stage", "common_stage"):
            if not values[column]:
                problems.append(Problem(line, column, None, "is empty (write an id or a name)"))
        if name is None or not all(values[c] for c in ("pipeline", "stage", "common_stage")):
            continue
        key = (name, _plain(values["pipeline"]), _plain(values["stage"]))
        if key in first_line:
            problems.append(Problem(line, None, None,
                                    f"same account, pipeline and stage as line {first_line[key]} "
                                    "(a stage counts under one common stage)"))  # fmt: skip
            continue
        first_line[key] = line
        out.append(StageMapRow(name, values["pipeline"], values["stage"],
                               " ".join(values["common_stage"].split())))  # fmt: skip
    _refuse_if(problems, source)
    return out
