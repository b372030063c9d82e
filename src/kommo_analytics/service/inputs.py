"""The writers: rebuilding the model and importing costs and goals, one at a time under the
sync's lock (on DuckDB they write the sync's file and publish it, like a sync)."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from kommo_analytics.errors import KommoAnalyticsError, Problem
from kommo_analytics.model import inputs
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import ChannelRules
from kommo_analytics.model.schema import MODEL_TABLES, model_qualified
from kommo_analytics.service import _sql, names
from kommo_analytics.service.account import load_modelled
from kommo_analytics.settings import Settings
from kommo_analytics.sync.lock import Purpose, writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target


def channel_rules(settings: Settings) -> ChannelRules:
    """The channel rules a build uses: the settings' file, else the shipped defaults."""
    return ChannelRules.load(settings.channel_rules_file)


def rebuild_model(settings: Settings, target: Target) -> str:
    reader.require_synced(target)
    with _locked(settings, target, "model rebuild"):
        summary = model_store.rebuild(settings, target)
        Warehouse(target, settings.data_dir).publish()
    return summary


def import_costs(
    settings: Settings, target: Target, path: Path, *, replace: bool, now: datetime
) -> tuple[int, int]:
    """Validate the whole file, then write it in one transaction; (rows imported, rows kept)."""
    return import_costs_text(
        settings, target, inputs.read_text(path), source=path.name, replace=replace, now=now
    )


def check_costs_text(settings: Settings, target: Target, text: str, *, source: str) -> None:
    """Raise :class:`InputFileError` listing every bad line, as an import would; store nothing."""
    inputs.parse_costs(text, channels=cost_channels(settings, target), source=source)


def import_costs_text(
    settings: Settings, target: Target, text: str, *, source: str, replace: bool, now: datetime
) -> tuple[int, int]:
    """:func:`import_costs` of a file's text (an upload, or the Settings page's grid written
    as CSV): the same validation, the same write."""
    rows = inputs.parse_costs(text, channels=cost_channels(settings, target), source=source)
    new = [
        {
            "day": r.day,
            "channel": r.channel,
            "utm_campaign": r.utm_campaign,
            "amount": _money(r.amount),
            "imported_at": now.astimezone(UTC).replace(tzinfo=None),
            "source": source,
        }
        for r in rows
    ]
    first, last = min(r.day for r in rows), max(r.day for r in rows)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["day"], row["channel"], (row["utm_campaign"] or "").lower())

    with _locked(settings, target, "import"):
        existing = _stored(target, "input_costs")
        keys = {key(r) for r in new}
        kept = [
            r
            for r in existing
            if key(r) not in keys and not (replace and first <= _as_date(r["day"]) <= last)
        ]
        model_store.replace_input_rows(target, "input_costs", [*kept, *new], delete_where="1 = 1")
        Warehouse(target, settings.data_dir).publish()
    return len(new), len(kept)


def import_goals(
    settings: Settings, target: Target, path: Path, *, replace: bool, now: datetime
) -> tuple[int, int]:
    """Validate the whole file, then write it in one transaction; (rows imported, rows kept)."""
    return import_goals_text(
        settings, target, inputs.read_text(path), source=path.name, replace=replace, now=now
    )


def import_goals_text(
    settings: Settings,
    target: Target,
    text: str,
    *,
    source: str,
    replace: bool,
    now: datetime,
    months: Collection[date] = (),
) -> tuple[int, int]:
    """:func:`import_goals` of a file's text. ``months``: with ``replace``, months whose stored
    goals go too even when the text has none for them (a grid's emptied month)."""
    known = names.users(target)
    if not known:
        load_modelled(target)  # says "build the model first" when that is the reason
    # A grid with every cell emptied clears its months; a file without rows is a mistake.
    rows = inputs.parse_goals(text, users=known, source=source) if text or not months else []
    new = [
        {
            "month": r.month,
            "user_id": r.user_id,
            "revenue_goal": _money(r.revenue_goal),
            "deals_goal": r.deals_goal,
            "imported_at": now.astimezone(UTC).replace(tzinfo=None),
            "source": source,
        }
        for r in rows
    ]
    replaced = {r.month for r in rows} | set(months)
    with _locked(settings, target, "import"):
        existing = _stored(target, "input_goals")
        keys = {(r["month"], r["user_id"]) for r in new}
        kept = [
            r
            for r in existing
            if (_as_date(r["month"]), int(r["user_id"])) not in keys
            and not (replace and _as_date(r["month"]) in replaced)
        ]
        model_store.replace_input_rows(target, "input_goals", [*kept, *new], delete_where="1 = 1")
        Warehouse(target, settings.data_dir).publish()
    return len(new), len(kept)


# --- the Settings page's grids ------------------------------------------------------------------

# What the rows saved from the dashboard record as their source (a file's name otherwise).
GRID_SOURCE = "dashboard"


@dataclass(frozen=True)
class GoalCell:
    """One seller's goals for one month as the Settings page's grid holds them."""

    month: date
    user_id: int
    revenue_goal: float | None
    deals_goal: float | None


@dataclass(frozen=True)
class StoredGoal:
    month: date
    user_id: int
    revenue_goal: float
    deals_goal: int | None


def _cell(value: float | None, digits: int) -> str:
    if value is None or value != value:  # NaN: an emptied cell
        return ""
    if digits == 0 and float(value).is_integer():
        return str(int(value))
    # Fixed decimals: "1.234" alone would read as a thousand (see inputs.parse_amount).
    return f"{value:.{max(digits, 2)}f}" if digits else repr(float(value))


def goals_csv(cells: Sequence[GoalCell]) -> str:
    """The grid as the goals file the CLI imports (a cell's line is its index + 2)."""
    lines = [",".join(inputs.GOALS_COLUMNS)]
    lines += [
        f"{c.month:%Y-%m},{c.user_id},{_cell(c.revenue_goal, 2)},{_cell(c.deals_goal, 0)}"
        for c in cells
    ]
    return "\n".join(lines) + "\n" if cells else ""


def save_goal_grid(
    settings: Settings, target: Target, cells: Sequence[GoalCell], *, months: Collection[date],
    now: datetime,
) -> tuple[int, int]:  # fmt: skip
    """The goals of ``months`` become ``cells``: validated as a goals file is, then written
    under the lock (goals of other months are kept)."""
    return import_goals_text(settings, target, goals_csv(cells), source=GRID_SOURCE,
                             replace=True, now=now, months=months)  # fmt: skip


def stored_goals(target: Target) -> list[StoredGoal]:
    """The goals stored (from the served copy: what the pages show)."""
    rows = _sql.rows_if_present(
        target,
        # SQL text: an input table's name; no user value.
        "SELECT month, user_id, revenue_goal, deals_goal "  # nosec B608
        f"FROM {model_qualified(target, 'input_goals')}",
    )
    return [
        StoredGoal(_as_date(m), int(u), float(r), None if d is None else int(d))
        for m, u, r, d in rows or []
    ]


UserRef = inputs.UserRef


def sellers(target: Target) -> list[UserRef]:
    """The account's users a goal may name (none before the first build)."""
    return names.users(target)


def cost_channels(settings: Settings, target: Target) -> tuple[str, ...]:
    """The channel keys a cost may name: the built model's."""
    return load_modelled(target, timezone_override=settings.account_timezone).channels


COSTS_COLUMNS = inputs.COSTS_COLUMNS


def costs_cells(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """An uploaded costs file's rows as text for the grid, and its layout problems."""
    return inputs.costs_cells(text)


def costs_csv(rows: Sequence[dict[str, str]]) -> str:
    """The costs grid as the CSV the CLI imports (a row's line is its index + 2)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COSTS_COLUMNS)
    writer.writerows([[row.get(c) or "" for c in COSTS_COLUMNS] for row in rows])
    return out.getvalue()


def decode(data: bytes) -> str:
    """An uploaded file's text, decoded as the CLI decodes a file it reads."""
    return inputs.decode(data)


def _locked(settings: Settings, target: Target, purpose: Purpose) -> AbstractContextManager[Any]:
    return writer_lock(target, settings.data_dir, purpose)


def _money(value: Decimal) -> float:
    return float(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _stored(target: Target, table: str) -> list[dict[str, Any]]:
    """The rows already imported (read from the writer's side: on DuckDB, the sync's file)."""
    columns = list(MODEL_TABLES[table].column_names)
    model_store.prepare_writer(target)
    try:
        with reader.connect(target, write=True) as con:
            cur = con.cursor()
            # SQL text: an input table's declared columns and name; no user value.
            cur.execute(f"SELECT {', '.join(columns)} FROM {model_qualified(target, table)}")  # nosec B608
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    except KommoAnalyticsError as exc:
        if reader.is_missing_table(exc):
            return []
        raise
