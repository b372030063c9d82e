"""The consolidated view of an install's accounts: their reports, the exchange rates and the
stage mapping the user supplies, combined by :mod:`kommo_analytics.metrics.consolidated`.

Each account has a warehouse of its own, so each account's report is computed there, under
that account's settings (its own time zone, currency and channels), for the same calendar
dates. An account whose money must be converted also gets one report per calendar month of the
period (sections leads and sales only): its revenue and costs of month M are converted at
month M's rate. Both files live in the install's folder (what every account shares):

- ``exchange_rates.csv`` — ``month,from_currency,to_currency,rate``: 1 ``from_currency`` =
  ``rate`` ``to_currency`` for the money of ``month`` (YYYY-MM). The reporting currency is the
  ``to_currency`` of the rows used. A reverse rate is never derived.
- ``stage_mapping.csv`` — ``account,pipeline,stage,common_stage``: which common stage of the
  consolidated funnel an account's stage (pipeline and stage by id or name) counts under.

Both are checked whole by the costs file's parser machinery (``model/inputs.py``) before
anything is written; a bad line is named by its number, and nothing is stored while one is bad.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final

from filelock import FileLock, Timeout

from kommo_analytics import files
from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.entities import LOST_STATUS_ID, WON_STATUS_ID
from kommo_analytics.metrics import consolidated as combine
from kommo_analytics.metrics.consolidated import AccountReports, Consolidated, MapRow, Rates
from kommo_analytics.metrics.results import Report
from kommo_analytics.model import inputs
from kommo_analytics.service import account as account_service
from kommo_analytics.service import forecasts, reports
from kommo_analytics.service.scope import Scope
from kommo_analytics.settings import (
    Settings,
    account_names,
    load_settings,
    read_register,
    using_account,
)

RATES_FILE: Final = "exchange_rates.csv"
STAGE_MAP_FILE: Final = "stage_mapping.csv"
# How long a change waits for another one of the same file to end before it is refused.
LOCK_SECONDS: Final = 10
RateRow = inputs.RateRow
StageMapRow = inputs.StageMapRow
RATES_COLUMNS = inputs.RATES_COLUMNS
STAGE_MAP_COLUMNS = inputs.STAGE_MAP_COLUMNS


# -- which accounts ------------------------------------------------------------------------------


def install_settings() -> Settings:
    """The settings of the default account: what the install shares (its folder, the register)."""
    return load_settings()


def chosen(settings: Settings, names: Sequence[str] | None) -> list[str]:
    """The accounts to consolidate, in the install's order: ``names`` (None: all). An unknown
    name is an error naming the accounts there are."""
    every = account_names(settings)
    if names is None:
        return every
    unknown = [n for n in names if n not in every]
    if unknown:
        raise ConfigError(
            f"no account named {', '.join(unknown)} (accounts: {', '.join(every) or 'none'})",
            hint="see them with `kommo-analytics accounts list`",
        )
    wanted = set(names)
    return [n for n in every if n in wanted]


def label_of(settings: Settings, name: str) -> str:
    """The account's display name from the register, else its name."""
    entry = read_register(settings.install_dir).get(name)
    return entry.label if entry is not None else name


def account_settings(name: str) -> Settings:
    with using_account(name):
        return load_settings()


# -- reports -------------------------------------------------------------------------------------


def default_period(
    start: date | None, end: date | None, first: str, now: datetime
) -> tuple[date, date]:
    """The period's calendar dates, the same for every account: as given, else the 30 days up to
    today in the first account's time zone (what `metrics` shows for it)."""
    if end is None:
        settings = account_settings(first)
        acc = account_service.load_modelled(
            account_service.target_for(settings), timezone_override=settings.account_timezone
        )
        end = acc.today(now)
    return start or end - timedelta(days=reports.DEFAULT_DAYS - 1), end


@dataclass(frozen=True)
class Loaded:
    """An account's warehouse and what its model says: read before its reports."""

    name: str
    url: str
    currency: str | None


def loaded(name: str) -> Loaded:
    settings = account_settings(name)
    target = account_service.target_for(settings)
    acc = account_service.load_modelled(target, timezone_override=settings.account_timezone)
    return Loaded(name, settings.resolved_database_url, acc.currency)


def account_reports(
    name: str, start: date, end: date, as_of: datetime, reporting: str, *, label: str
) -> AccountReports:
    """One account's reports for the consolidation, computed in its own warehouse and time
    zone: the whole period, and — when its currency is not ``reporting`` and the period spans
    months — each month's slice, whose money is converted at that month's rate."""
    settings = account_settings(name)
    target = account_service.target_for(settings)
    acc = account_service.load_modelled(
        target,
        timezone_override=settings.account_timezone,
        holidays_country=settings.holidays_country,
    )

    def report(first: date, last: date, sections: Sequence[str]) -> Report:
        scope = Scope(start=first, end=last, as_of=as_of)
        p = reports.params(acc, scope, now=as_of, sla_hours=settings.response_sla_hours)
        return reports.report(target, acc, p, sections, forecast_range=False)

    whole = report(start, end, combine.SECTIONS)
    slices = combine.month_slices(start, end)
    if acc.currency == reporting:
        months = {}
    elif len(slices) == 1:
        months = {slices[0][0]: whole}
    else:
        months = {m: report(first, last, combine.MONTH_SECTIONS) for m, first, last in slices}
    return AccountReports(name=name, label=label, report=whole, months=months)


def consolidate(
    accounts: Sequence[str] | None,
    *,
    start: date | None,
    end: date | None,
    currency: str | None,
    now: datetime,
) -> Consolidated:
    """The chosen accounts (None: every account; a caller limited to some accounts passes
    those) side by side and summed, money in ``currency`` (default: the first account's) at the
    rates of ``exchange_rates.csv``, with the consolidated funnel when a stage mapping exists."""
    settings = install_settings()
    names = chosen(settings, accounts)
    if not names:
        raise ConfigError("there is no account to consolidate",
                          hint="add one with `kommo-analytics accounts add`")  # fmt: skip
    first = loaded(names[0])
    reporting = (currency or first.currency or "").upper()
    if not reporting:
        raise ConfigError(
            f"the account {names[0]!r} has no currency recorded",
            hint="choose the reporting currency with --currency (e.g. --currency BRL)",
        )
    period = default_period(start, end, names[0], now)
    items = [
        account_reports(name, *period, now, reporting, label=label_of(settings, name))
        for name in names
    ]
    mapping = read_stage_map(settings)
    return combine.consolidate(items, rates_for(read_rates(settings), reporting), mapping)


# -- exchange rates ------------------------------------------------------------------------------


def rates_path(settings: Settings) -> Path:
    return settings.install_dir / RATES_FILE


def read_rates(settings: Settings) -> list[RateRow]:
    """The stored rates ([] without a file); a damaged file is refused with its bad lines."""
    path = rates_path(settings)
    if not path.is_file():
        return []
    text = inputs.read_text(path)
    return inputs.parse_rates(text, source=str(path)) if text.strip() else []


def rates_for(rows: Sequence[RateRow], reporting: str) -> Rates:
    """The rates into ``reporting``, by (YYYY-MM, currency)."""
    return Rates(
        reporting=reporting,
        table={
            (f"{r.month:%Y-%m}", r.from_currency): float(r.rate)
            for r in rows
            if r.to_currency == reporting
        },
    )


def rates_csv(rows: Sequence[RateRow]) -> str:
    """Rates as the file stores them, sorted by month and pair."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RATES_COLUMNS)
    for r in sorted(rows, key=lambda r: (r.month, r.from_currency, r.to_currency)):
        writer.writerow([f"{r.month:%Y-%m}", r.from_currency, r.to_currency, str(r.rate)])
    return out.getvalue()


def save_rates_text(settings: Settings, text: str, *, source: str) -> int:
    """The rates become exactly those of ``text`` (the Settings page's grid written as CSV):
    checked whole first, so nothing is stored while a line is bad. Returns the rows stored."""
    rows = inputs.parse_rates(text, source=source) if text.strip() else []
    with _editing(rates_path(settings)):
        _write(rates_path(settings), rates_csv(rows))
    return len(rows)


def import_rates(settings: Settings, path: Path, *, replace: bool) -> tuple[int, int]:
    """A rates file's rows added to the stored ones (a row for the same month and pair
    replaces the stored one; ``replace``: the file's rows become all of them). Checked whole
    first. Returns (rows imported, stored rows kept)."""
    new = inputs.parse_rates(inputs.read_text(path), source=path.name)
    keys = {(r.month, r.from_currency, r.to_currency) for r in new}
    with _editing(rates_path(settings)):
        kept = [] if replace else [r for r in read_rates(settings)
                                   if (r.month, r.from_currency, r.to_currency) not in keys]  # fmt: skip
        _write(rates_path(settings), rates_csv([*kept, *new]))
    return len(new), len(kept)


# -- stage mapping -------------------------------------------------------------------------------


def stage_map_path(settings: Settings) -> Path:
    return settings.install_dir / STAGE_MAP_FILE


def read_stage_map(settings: Settings) -> list[MapRow]:
    """The stored mapping ([] without a file); a damaged file is refused with its bad lines."""
    path = stage_map_path(settings)
    if not path.is_file():
        return []
    text = inputs.read_text(path)
    if not text.strip():
        return []
    rows = inputs.parse_stage_map(text, accounts=account_names(settings), source=str(path))
    return [MapRow(r.account, r.pipeline, r.stage, r.common_stage) for r in rows]


def stage_map_csv(rows: Sequence[MapRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STAGE_MAP_COLUMNS)
    writer.writerows([[r.account, r.pipeline, r.stage, r.common_stage] for r in rows])
    return out.getvalue()


def save_stage_map_text(settings: Settings, text: str, *, source: str) -> int:
    """The mapping becomes exactly that of ``text`` (a file, or the Settings page's grid):
    checked whole first. Returns the rows stored."""
    rows = (inputs.parse_stage_map(text, accounts=account_names(settings), source=source)
            if text.strip() else [])  # fmt: skip
    with _editing(stage_map_path(settings)):
        _write(stage_map_path(settings),
               stage_map_csv([MapRow(r.account, r.pipeline, r.stage, r.common_stage)
                              for r in rows]))  # fmt: skip
    return len(rows)


def read_file(path: Path) -> str:
    """A CSV file's text, decoded as the costs import decodes it."""
    return inputs.read_text(path)


def stages_of(name: str) -> list[tuple[str, str]]:
    """An account's open stages as (pipeline, stage), in Kommo's order: what the Settings
    page's mapping grid offers to map. By name, except a name two pipelines (or two stages of
    one) share: by id, the only way a row can say which one it means."""
    settings = account_settings(name)
    labels = forecasts.labels(account_service.target_for(settings))
    order = sorted(
        (k for k in labels.stages if k[1] not in (WON_STATUS_ID, LOST_STATUS_ID)),
        key=lambda k: (k[0], labels.stage_order.get(k, 0)),
    )
    pipelines = Counter(combine.plain_name(labels.pipeline(p)) for p in {p for p, _ in order})
    stages = Counter((p, combine.plain_name(labels.stage(p, s))) for p, s in order)

    def said(text: str, count: int, identity: int) -> str:
        return text if count == 1 else str(identity)

    return [
        (said(labels.pipeline(p), pipelines[combine.plain_name(labels.pipeline(p))], p),
         said(labels.stage(p, s), stages[(p, combine.plain_name(labels.stage(p, s)))], s))
        for p, s in order
    ]  # fmt: skip


@contextmanager
def _editing(path: Path) -> Iterator[None]:
    """One change of ``path`` at a time across processes (the CLI, the dashboard's grid): an
    import reads the stored rows and writes them back with its own, and two at once would each
    lose the other's."""
    files.private_dir(path.parent)
    lock = FileLock(str(path.with_name(f".{path.name}.lock")), timeout=LOCK_SECONDS, mode=0o600)
    try:
        with lock:
            yield
    except Timeout:
        raise ConfigError(
            f"{path.name} is being changed by someone else right now",
            hint="try again in a moment",
        ) from None


def _write(path: Path, text: str) -> None:
    files.write_private(path, text)
