"""The channel rules as the Settings page edits them: a row per rule, checked by the same parser
as a rules file, previewed on the synced leads by the build's own classifier, and saved with
the model rebuilt under the writer's lock — what `kommo-analytics model` does after a file is
edited.

A row's lists are texts of values separated by commas ("cpc, ppc"); ``fields`` holds other
tracking codes as ``code: value, value; code: value``. The rules' ``utm_fields`` are not edited
here and are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kommo_analytics import files
from kommo_analytics.errors import NoSyncedDataError
from kommo_analytics.model import store as model_store
from kommo_analytics.model.channels import (
    VALUE_FIELDS,
    ChannelRules,
    parse_rules,
    rule_settings,
    rules_toml,
)
from kommo_analytics.service import health
from kommo_analytics.service.inputs import channel_rules
from kommo_analytics.settings import SAVED_CHANNEL_RULES, Settings
from kommo_analytics.sync.lock import writer_lock
from kommo_analytics.warehouse import reader
from kommo_analytics.warehouse.loader import Warehouse
from kommo_analytics.warehouse.target import Target

# The grid's columns, in order: text columns, then the true/false ones.
TEXT_COLUMNS: Final = ("key", "label", "any_present", *VALUE_FIELDS, "tags", "fields")
FLAG_COLUMNS: Final = ("human_without_utm", "any_utm", "fallback")
# Columns named by the tracking field they compare: the same word in every language.
RAW_NAMES: Final = frozenset(VALUE_FIELDS)
COLUMNS: Final = (*TEXT_COLUMNS, *FLAG_COLUMNS)
SOURCE: Final = "the channel rules"
_COMMENT: Final = (
    "Channel rules saved on the dashboard's Settings page; saving there again replaces this file.\n"
    "What each setting means: the comments of the built-in default_channels.toml."
)


@dataclass(frozen=True)
class Edited:
    """Rules that passed the parser: what the preview counts and what saving writes."""

    rules: ChannelRules
    text: str

    @property
    def keys(self) -> tuple[str, ...]:
        return self.rules.keys

    def describe(self) -> list[str]:
        return [rule.describe() for rule in self.rules.rules]


@dataclass(frozen=True)
class Current:
    rows: list[dict[str, Any]]
    utm_fields: tuple[str, ...]
    source: str
    save_to: Path
    named_file: bool  # CHANNEL_RULES_FILE names the file saving replaces


def current(settings: Settings) -> Current:
    """The rules in use as grid rows (raises ConfigError when their file cannot be read)."""
    rules = channel_rules(settings)
    return Current(
        rows=[_row(rule_settings(rule)) for rule in rules.rules],
        utm_fields=rules.utm_fields,
        source=rules.source,
        save_to=settings.channel_rules_to_save,
        named_file=settings.channel_rules_file is not None
        and settings.channel_rules_file != settings.data_dir / SAVED_CHANNEL_RULES,
    )


def _row(found: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TEXT_COLUMNS, "")
    row.update({name: bool(found.get(name, False)) for name in FLAG_COLUMNS})
    for name in TEXT_COLUMNS:
        value = found.get(name)
        if isinstance(value, str):
            row[name] = value
        elif isinstance(value, list):
            row[name] = ", ".join(value)
        elif isinstance(value, dict):
            row[name] = "; ".join(f"{code}: {', '.join(v)}" for code, v in value.items())
    return row


def _values(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _text(value: Any) -> str:
    """A grid cell as text: an emptied cell arrives as None or NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _settings(row: Mapping[str, Any]) -> dict[str, Any]:
    """A grid row as a rule's settings; an empty cell is a setting left out."""
    out: dict[str, Any] = {}
    for name in TEXT_COLUMNS:
        text = _text(row.get(name))
        if not text:
            continue
        if name in ("key", "label"):
            out[name] = text
        elif name == "fields":
            table: dict[str, list[str]] = {}
            for part in text.split(";"):
                code, _, values = part.partition(":")
                if code.strip() or values.strip():
                    # A code without values is left for the parser to name ("an empty list").
                    table[code.strip()] = _values(values)
            out[name] = table
        else:
            out[name] = _values(text)
    for name in FLAG_COLUMNS:
        if bool(row.get(name)) and row.get(name) == row.get(name):  # NaN is not a tick
            out[name] = True
    return out


def check(rows: Sequence[Mapping[str, Any]], utm_fields: Sequence[str]) -> Edited:
    """The rows as rules, checked as a rules file is (ConfigError naming the rule and the fix);
    rows with no cell filled are left out."""
    wanted = [s for s in (_settings(row) for row in rows) if s]
    text = rules_toml(wanted, utm_fields, comment=_COMMENT)
    return Edited(parse_rules(text, source=SOURCE), text)


def check_text(text: str) -> Edited:
    """Rules written by :func:`check` (its ``text``), read back."""
    return Edited(parse_rules(text, source=SOURCE), text)


def preview(target: Target, edited: Edited) -> dict[str, int]:
    """Leads (not deleted) per channel the edited rules would give the synced leads."""
    return model_store.channel_preview(target, edited.rules)


def model_counts(target: Target) -> dict[str, int] | None:
    """Leads per channel in the built model (None before a build)."""
    return health.channel_counts(target)


def save(settings: Settings, target: Target, edited: Edited) -> str | None:
    """Write the rules file and rebuild the model with it, under the writer's lock (a sync
    cannot start half-way); the build's summary, or None when nothing is synced yet (the first
    sync builds with these rules)."""
    path = settings.channel_rules_to_save
    try:
        reader.require_synced(target)
    except NoSyncedDataError:
        _write(path, edited.text)
        return None
    with writer_lock(target, settings.data_dir, "model rebuild"):
        _write(path, edited.text)
        summary = model_store.rebuild(settings.model_copy(update={"channel_rules_file": path}),
                                      target)  # fmt: skip
        Warehouse(target, settings.data_dir).publish()
    return summary


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a half-written rules file would stop every sync."""
    files.private_dir(path.parent)
    files.write_private(path, text)
