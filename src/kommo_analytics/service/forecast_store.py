"""The company's whole forecast as the last sync made it, kept in the data folder, so that a page
showing the company's forecast reads it instead of simulating again.

A sync already forecasts the company once, to store the day's snapshot (``snapshots.py``); on a
large account that is the slowest thing a page could ask for (the History of every lead and stage
stay, then the model and the simulation: minutes at a million leads). The sync now also writes
the whole result here (``forecast.json``), and :func:`load` hands it back only when it is the
forecast the page would have made that day:

* the scope is the company's (no pipeline or seller filter, no viewer limited to some sellers);
* the model is the one it was made from (the build's ``built_at``), the goals of its months are
  the ones in the warehouse now (an import after the sync changes them), and the time zone,
  holiday calendar, seed and number of draws are the page's;
* "now" is on the same account-local day as the forecast's own "as of", and not before it (the
  minute it was made counts: a page's "now" is rounded down to the minute) —
  within a day the stored forecast stands, as the stored snapshot does (``after_sync.py``).

Anything else (or an unreadable file) is None and the caller forecasts live. The file is JSON
(non-finite floats written as ``NaN``/``Infinity`` so they come back the same), read back into
the same frozen dataclasses by their type hints.
"""

from __future__ import annotations

import json
import logging
import types
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin, get_type_hints

from kommo_analytics.files import private_dir, write_private_json
from kommo_analytics.forecast import Forecast, Goal
from kommo_analytics.service.account import Account
from kommo_analytics.service.scope import Scope

log = logging.getLogger(__name__)

FILE_NAME: Final = "forecast.json"
FORMAT: Final = 1
MINUTE: Final = timedelta(minutes=1)


def path_of(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


# -- (de)serialising the frozen result dataclasses --------------------------------------------------


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _typed(hint: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as the type ``hint`` describes."""
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            return _typed(options[0], value)
        # A union of plain scalars (e.g. float | int): JSON kept which one it was.
        return value
    if origin is Literal:
        return value
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value, strict=True))
    if origin is dict:
        key, item = get_args(hint)
        return {_typed(key, k): _typed(item, v) for k, v in value.items()}
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if hint is float:
        return float(value)
    if hint is int:
        return int(value)
    if isinstance(hint, type) and is_dataclass(hint):
        hints = get_type_hints(hint)
        return hint(**{f.name: _typed(hints[f.name], value[f.name]) for f in fields(hint)})
    return value


def to_json(result: Forecast) -> str:
    return json.dumps(_plain(result), allow_nan=True)


def from_json(text: str) -> Forecast:
    loaded: Forecast = _typed(Forecast, json.loads(text))
    return loaded


# -- the key: what the stored forecast was made from ---------------------------------------------


def _goals(goals: tuple[Goal, ...]) -> list[list[Any]]:
    return [[g.month.isoformat(), g.amount, g.user_id] for g in goals]


def key_of(account: Account, goals: tuple[Goal, ...], *, seed: int, draws: int) -> dict[str, Any]:
    """What a stored forecast must share with the one a page would make."""
    return {
        "format": FORMAT,
        "built_at": account.info.get("built_at"),
        "timezone": account.timezone,
        "calendar": _plain(account.calendar),
        "goals": _goals(goals),
        "seed": seed,
        "draws": draws,
    }


def save(data_dir: Path, result: Forecast, key: dict[str, Any]) -> Path:
    """Write the forecast and its key, private (0600, like everything in the data folder: it
    holds the business's revenue) and atomically (a reader sees the old file or the new one)."""
    path = path_of(data_dir)
    private_dir(path.parent)
    write_private_json(path, {"key": key, "forecast": json.loads(to_json(result))})
    return path


def company_scope(scope: Scope) -> bool:
    """Whether a scope is the whole company's (what a sync forecasts)."""
    return not scope.pipelines and not scope.seller_ids()


def load(
    data_dir: Path,
    account: Account,
    scope: Scope,
    at: datetime,
    goals: tuple[Goal, ...],
    *,
    seed: int,
    draws: int,
) -> Forecast | None:
    """The stored forecast when it is the one ``scope`` would get at ``at`` (a zoned moment in
    the account's zone) with these ``goals``; else None."""
    path = path_of(data_dir)
    if not company_scope(scope) or not account.info.get("built_at") or not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("key") != key_of(account, goals, seed=seed, draws=draws):
            return None
        result = from_json(json.dumps(document["forecast"], allow_nan=True))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Only a shortcut: the page forecasts live instead.
        log.warning("the stored forecast %s cannot be read: %s", path, exc)
        return None
    made = result.now.astimezone(account.zone)
    now = at.astimezone(account.zone)
    # A page's "now" is its render's minute, rounded down: a forecast made in that minute is
    # the page's own; one made later than that is not (the page looks at an earlier moment).
    if made.date() != now.date() or made - now >= MINUTE:
        return None
    return result
