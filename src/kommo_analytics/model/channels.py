"""The channel of a lead: the first matching rule of an ordered, user-editable list.

The rules live in a TOML file written for people who are not engineers; the package ships the
contract's defaults in ``default_channels.toml`` (its comments are the user documentation). A
user file replaces the defaults entirely, so what is classified is always exactly what one file
says.

:meth:`ChannelRules.classify` is the reference definition for one lead;
:meth:`ChannelRules.classify_frame` does the same for a whole table with numpy masks. Both
normalise every value with the same function, so they cannot disagree.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from kommo_analytics.errors import ConfigError
from kommo_analytics.kommo.entities import KNOWN_TRACKING_CODES

DEFAULT_CHANNELS: tuple[str, ...] = ("paid", "referral", "organic", "outbound", "other", "unknown")

# The tracking fields a rule may compare with a list of values by name (`utm_medium = [...]`);
# any other code, an account's own included, goes in the rule's `fields` table. Click ids (gclid,
# fbclid) are opaque random strings, so only their presence (`any_present`) means anything.
VALUE_FIELDS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "referrer",
)
# What "has a UTM field" means when the rules file does not say: every known tracking code,
# referrer and the analytics cookies included (the reason is in default_channels.toml).
DEFAULT_UTM_FIELDS: tuple[str, ...] = tuple(code.lower() for code in KNOWN_TRACKING_CODES)

_DEFAULT_FILE = "default_channels.toml"
_DEFAULT_SOURCE = f"built-in channel rules ({_DEFAULT_FILE})"
_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# A tracking code as rules name it: Kommo's codes lower-cased (`_ym_uid` starts with "_").
_CODE_PATTERN = re.compile(r"[a-z0-9_]+")
_LIST_SETTINGS = ("any_present", "tags", *VALUE_FIELDS)
_BOOL_SETTINGS = ("human_without_utm", "any_utm", "fallback")
_RULE_SETTINGS = ("key", "label", *_LIST_SETTINGS, "fields", *_BOOL_SETTINGS)
_TOP_SETTINGS = ("channel", "utm_fields")
_RULES_HINT = (
    "see the comments at the top of the built-in default_channels.toml for what a rule may contain"
)

BoolArray = npt.NDArray[np.bool_]


def normalise(value: object) -> str:
    """How every field value and tag is compared: trimmed, case-folded, NFC; null → ""."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    # NFC so that "ç" typed on a Mac (c + combining cedilla) equals the one typed on Windows.
    return unicodedata.normalize("NFC", str(value)).strip().casefold()


def _is_human(created_by: object) -> bool:
    if created_by is None or created_by is pd.NA:
        return False
    if isinstance(created_by, float) and math.isnan(created_by):
        return False
    return created_by != 0


def _or_list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


@dataclass(frozen=True)
class FieldIn:
    """A condition: tracking field ``field`` is one of ``values`` (already normalised)."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ChannelRule:
    """One channel and the conditions that send a lead to it (OR-ed together)."""

    key: str
    label: str
    any_present: tuple[str, ...] = ()
    field_values: tuple[FieldIn, ...] = ()
    tags: tuple[str, ...] = ()
    human_without_utm: bool = False
    any_utm: bool = False
    fallback: bool = False

    @property
    def has_condition(self) -> bool:
        return bool(
            self.any_present
            or self.field_values
            or self.tags
            or self.human_without_utm
            or self.any_utm
            or self.fallback
        )

    def matches(
        self, fields: Mapping[str, str], tags: frozenset[str], *, human: bool, has_utm: bool
    ) -> bool:
        """Whether a lead matches; ``fields`` and ``tags`` must already be normalised."""
        if self.fallback:
            return True
        if any(fields.get(name, "") for name in self.any_present):
            return True
        if any(fields.get(cond.field, "") in cond.values for cond in self.field_values):
            return True
        if tags and any(tag in tags for tag in self.tags):
            return True
        if self.human_without_utm and human and not has_utm:
            return True
        return self.any_utm and has_utm

    @property
    def used_fields(self) -> frozenset[str]:
        """The tracking fields this rule's own conditions look at."""
        return frozenset(self.any_present) | {cond.field for cond in self.field_values}

    def describe(self) -> str:
        """One readable line, e.g. "GCLID, FBCLID or YCLID present, or utm_medium is cpc…"."""
        if self.fallback:
            return "everything else"
        parts: list[str] = []
        if self.any_present:
            parts.append(f"{_or_list([name.upper() for name in self.any_present])} present")
        parts.extend(f"{cond.field} is {_or_list(cond.values)}" for cond in self.field_values)
        if self.tags:
            parts.append(f"tagged {_or_list(self.tags)}")
        if self.human_without_utm:
            parts.append("created by a person with no UTM field")
        if self.any_utm:
            parts.append("any UTM field present")
        return ", or ".join(parts)


@dataclass(frozen=True)
class ChannelRules:
    """The ordered rules; the last one is the fallback, so every lead gets exactly one key."""

    rules: tuple[ChannelRule, ...]
    source: str
    utm_fields: tuple[str, ...] = DEFAULT_UTM_FIELDS

    def __post_init__(self) -> None:
        _check_rule_list(self.rules, self.source)

    @classmethod
    def default(cls) -> ChannelRules:
        return _default_rules()

    @classmethod
    def load(cls, path: Path | None) -> ChannelRules:
        """The rules in ``path``, replacing the defaults entirely; None → the defaults."""
        if path is None:
            return cls.default()
        try:
            # utf-8-sig: Windows Notepad may save a BOM, which TOML itself would refuse.
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(
                f"channel rules file {path} does not exist",
                hint="check the path, or leave the setting out to use the built-in rules",
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"channel rules file {path} is not UTF-8 text",
                hint="save it again as UTF-8 (in Notepad: Save as → Encoding: UTF-8)",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"channel rules file {path} cannot be read ({exc.strerror})",
                hint="check the path and the file's permissions",
            ) from None
        return parse_rules(text, source=str(path))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(rule.key for rule in self.rules)

    @property
    def used_fields(self) -> frozenset[str]:
        """Every tracking field (lower-case code) some rule looks at: a code outside this set
        cannot change any lead's channel."""
        used: set[str] = set()
        for rule in self.rules:
            used |= rule.used_fields
        if any(rule.human_without_utm or rule.any_utm for rule in self.rules):
            used |= set(self.utm_fields)
        return frozenset(used)

    def label(self, key: str) -> str:
        for rule in self.rules:
            if rule.key == key:
                return rule.label
        raise KeyError(key)

    def classify(
        self, fields: Mapping[str, str | None], tags: Sequence[str], created_by: int | None
    ) -> str:
        """The channel key of one lead. ``created_by`` 0 or None means robot or unknown."""
        values = {normalise(name): normalise(value) for name, value in fields.items()}
        # A bare string is one tag, not a sequence of one-letter tags.
        tag_list: Sequence[object] = [tags] if isinstance(tags, str) else (tags or ())
        tag_set = frozenset(normalise(tag) for tag in tag_list)
        human = _is_human(created_by)
        has_utm = any(values.get(name, "") for name in self.utm_fields)
        for rule in self.rules:
            if rule.matches(values, tag_set, human=human, has_utm=has_utm):
                return rule.key
        raise AssertionError("unreachable: the last rule is always the fallback")

    def classify_frame(self, frame: pd.DataFrame) -> pd.Series:
        """The channel key of every row, as a string Series aligned with ``frame.index``.

        Columns are tracking fields named by their lower-case code (any code, not only the
        standard ones); those missing from ``frame`` count as null; ``tags`` holds a list of tag
        names per row (or None); ``created_by`` 0 or null means robot or unknown.
        """
        n = len(frame)
        columns = _NormalisedColumns(frame)
        tag_match = _tag_matcher(frame) if any(r.tags for r in self.rules) else None
        human = _human_mask(frame)
        has_utm: BoolArray | None = None

        masks: list[BoolArray] = []
        for rule in self.rules:
            mask = np.zeros(n, dtype=bool)
            if rule.fallback:
                mask[:] = True
            for name in rule.any_present:
                mask |= columns.present(name)
            for cond in rule.field_values:
                mask |= columns.value_in(cond.field, frozenset(cond.values))
            if rule.tags and tag_match is not None:
                mask |= tag_match(frozenset(rule.tags))
            if rule.human_without_utm or rule.any_utm:
                if has_utm is None:
                    has_utm = np.zeros(n, dtype=bool)
                    for name in self.utm_fields:
                        has_utm |= columns.present(name)
                if rule.human_without_utm:
                    mask |= human & ~has_utm
                if rule.any_utm:
                    mask |= has_utm
            masks.append(mask)

        # np.select picks the first true mask per row: exactly "first matching rule".
        index = np.select(masks, list(range(len(self.rules))), default=len(self.rules) - 1)
        keys = np.array(self.keys, dtype=object)[index]
        return pd.Series(keys, index=frame.index, name="channel", dtype="str")


class _NormalisedColumns:
    """Per-column normalisation done once per distinct value, not once per row: a million
    leads carry only a few hundred distinct utm_medium values."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._cache: dict[str, tuple[npt.NDArray[np.intp], list[str]]] = {}

    def _codes(self, name: str) -> tuple[npt.NDArray[np.intp], list[str]] | None:
        if name not in self._frame.columns:
            return None
        if name not in self._cache:
            codes, uniques = pd.factorize(self._frame[name], use_na_sentinel=True)
            self._cache[name] = (np.asarray(codes), [normalise(u) for u in uniques])
        return self._cache[name]

    def _lookup(self, name: str, keep: Callable[[str], bool]) -> BoolArray:
        found = self._codes(name)
        if found is None:
            return np.zeros(len(self._frame), dtype=bool)
        codes, uniques = found
        # The extra False at the end is what code -1 (null) picks.
        table = np.array([keep(u) for u in uniques] + [False], dtype=bool)
        return table[codes]

    def present(self, name: str) -> BoolArray:
        return self._lookup(name, bool)

    def value_in(self, name: str, values: frozenset[str]) -> BoolArray:
        return self._lookup(name, values.__contains__)


def _tag_matcher(frame: pd.DataFrame) -> Callable[[frozenset[str]], BoolArray] | None:
    n = len(frame)
    if "tags" not in frame.columns:
        return None
    # Positional index: the frame's own index may repeat, and explode repeats it further.
    raw = pd.Series(frame["tags"].to_numpy(dtype=object), index=pd.RangeIndex(n))
    exploded = raw.explode()
    exploded = exploded[exploded.notna()]
    positions = exploded.index.to_numpy()
    codes, uniques = pd.factorize(exploded.astype(object), use_na_sentinel=True)
    normalised = [normalise(u) for u in uniques]

    def match(tags: frozenset[str]) -> BoolArray:
        table = np.array([u in tags for u in normalised] + [False], dtype=bool)
        mask = np.zeros(n, dtype=bool)
        mask[positions[table[codes]]] = True
        return mask

    return match


def _human_mask(frame: pd.DataFrame) -> BoolArray:
    if "created_by" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    numbers = pd.to_numeric(frame["created_by"], errors="coerce")
    return np.asarray((numbers.fillna(0) != 0).to_numpy(dtype=bool))


# --- loading and validation -------------------------------------------------------------------


@functools.cache
def _default_rules() -> ChannelRules:
    text = resources.files("kommo_analytics.model").joinpath(_DEFAULT_FILE).read_text("utf-8")
    return parse_rules(text, source=_DEFAULT_SOURCE)


def _fail(source: str, where: str, problem: str, hint: str) -> ConfigError:
    return ConfigError(f"{source}: {where}{problem}", hint=hint)


def _did_you_mean(name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _string_list(value: Any, source: str, where: str, setting: str) -> tuple[str, ...]:
    example = f'{setting} = ["first", "second"]'
    if not isinstance(value, list):
        raise _fail(
            source,
            where,
            f"{setting} must be a list of texts, not {_toml_type(value)}",
            f"write it in square brackets, e.g. {example}",
        )
    if not value:
        raise _fail(
            source,
            where,
            f"{setting} is an empty list",
            f"add values, e.g. {example}, or remove the line",
        )
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not normalise(item):
            raise _fail(
                source,
                where,
                f"{setting} contains {_toml_repr(item)}, which is not a non-empty text",
                f"put every value in double quotes, e.g. {example}",
            )
        norm = normalise(item)
        if norm not in out:
            out.append(norm)
    return tuple(out)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _toml_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return _toml_type(value) if isinstance(value, dict | list) else str(value)


def parse_rules(text: str, *, source: str) -> ChannelRules:
    """Rules from TOML text; ``source`` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source}: not a valid TOML file ({exc})",
            hint="check quotes and brackets on that line; texts need double quotes, lists []",
        ) from None

    for name in data:
        if name not in _TOP_SETTINGS:
            raise _fail(
                source,
                "",
                f'unknown setting "{name}"{_did_you_mean(name, _TOP_SETTINGS)}',
                'only utm_fields and [[channel]] rules may appear; check for a missing "[[channel]]" line above it',
            )
    utm_fields = DEFAULT_UTM_FIELDS
    if "utm_fields" in data:
        utm_fields = _codes(_string_list(data["utm_fields"], source, "", "utm_fields"), source, "")

    raw_rules = data.get("channel")
    if raw_rules is None or raw_rules == []:
        raise _fail(
            source,
            "",
            "no channel rules",
            'start each rule with a line "[[channel]]" followed by key = "..." and its conditions',
        )
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise _fail(
            source,
            "",
            "channel rules must each start with [[channel]] (two square brackets)",
            'write "[[channel]]", not "[channel]", above every rule',
        )
    rules = tuple(_parse_rule(raw, number, source) for number, raw in enumerate(raw_rules, start=1))
    return ChannelRules(rules=rules, source=source, utm_fields=utm_fields)


def _parse_rule(raw: dict[str, Any], number: int, source: str) -> ChannelRule:
    key = raw.get("key")
    where = f'rule {number} ("{key}"): ' if isinstance(key, str) else f"rule {number}: "
    for name in raw:
        if name not in _RULE_SETTINGS:
            raise _fail(
                source,
                where,
                f'unknown setting "{name}"{_did_you_mean(name, _RULE_SETTINGS)}',
                f"allowed settings: {', '.join(_RULE_SETTINGS)}; {_RULES_HINT}",
            )
    if key is None:
        raise _fail(
            source,
            where,
            "has no key",
            'add a line such as key = "paid" (the channel name used in reports and cost files)',
        )
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise _fail(
            source,
            where,
            f"key {_toml_repr(key)} is not a valid channel key",
            'use lowercase letters, digits and _, starting with a letter, in quotes: key = "google_ads"',
        )
    label = raw.get("label", key.replace("_", " ").capitalize())
    if not isinstance(label, str) or not label.strip():
        raise _fail(
            source,
            where,
            f"label {_toml_repr(label)} is not a non-empty text",
            'write it in double quotes, e.g. label = "Google Ads", or remove the line',
        )

    lists = {
        name: _string_list(raw[name], source, where, name) for name in _LIST_SETTINGS if name in raw
    }
    if "any_present" in lists:
        lists["any_present"] = _codes(lists["any_present"], source, where)
    by_code = _field_table(raw["fields"], source, where) if "fields" in raw else ()
    flags: dict[str, bool] = {}
    for name in _BOOL_SETTINGS:
        if name in raw:
            if not isinstance(raw[name], bool):
                raise _fail(
                    source,
                    where,
                    f"{name} must be true or false, not {_toml_repr(raw[name])}",
                    f"write {name} = true (without quotes), or remove the line",
                )
            flags[name] = raw[name]

    rule = ChannelRule(
        key=key,
        label=label.strip(),
        any_present=lists.get("any_present", ()),
        field_values=(
            *(FieldIn(name, lists[name]) for name in VALUE_FIELDS if name in lists),
            *by_code,
        ),
        tags=lists.get("tags", ()),
        human_without_utm=flags.get("human_without_utm", False),
        any_utm=flags.get("any_utm", False),
        fallback=flags.get("fallback", False),
    )
    if not rule.has_condition:
        raise _fail(
            source,
            where,
            "has no condition, so it would never match",
            f"add a condition (utm_medium, any_present, tags, ...) or remove the rule; {_RULES_HINT}",
        )
    if rule.fallback and any(
        (rule.any_present, rule.field_values, rule.tags, rule.human_without_utm, rule.any_utm)
    ):
        raise _fail(
            source,
            where,
            "is the fallback, which matches everything, but also has other conditions",
            "remove the other conditions from the fallback rule, or move them to a rule of their own",
        )
    return rule


def _codes(names: tuple[str, ...], source: str, where: str) -> tuple[str, ...]:
    for name in names:
        if not _CODE_PATTERN.fullmatch(name):
            raise _fail(
                source,
                where,
                f'field "{name}" is not a tracking code',
                "write the field's code as Kommo shows it (letters, digits and _), "
                'e.g. "utm_source", "yclid" or "source_domain"',
            )
    return names


def _field_table(value: Any, source: str, where: str) -> tuple[FieldIn, ...]:
    """`fields = { source_domain = ["blog.example.com"] }`: conditions on any tracking code."""
    example = 'fields = { source_domain = ["blog.example.com"] }'
    if not isinstance(value, dict):
        raise _fail(
            source,
            where,
            f"fields must be a table of tracking codes and values, not {_toml_type(value)}",
            f"write it in curly brackets, e.g. {example}",
        )
    if not value:
        raise _fail(
            source, where, "fields is an empty table", f"add a code, e.g. {example}, or remove it"
        )
    conditions: list[FieldIn] = []
    for name, values in value.items():
        (code,) = _codes((normalise(name),), source, where)
        conditions.append(FieldIn(code, _string_list(values, source, where, code)))
    return tuple(conditions)


def _check_rule_list(rules: Sequence[ChannelRule], source: str) -> None:
    if not rules:
        raise _fail(source, "", "no channel rules", "a rules file needs at least a fallback rule")
    seen: dict[str, int] = {}
    for number, rule in enumerate(rules, start=1):
        where = f'rule {number} ("{rule.key}"): '
        if rule.key in seen:
            raise _fail(
                source,
                where,
                f'key "{rule.key}" is already used by rule {seen[rule.key]}',
                "give every rule its own key, or merge the two rules' conditions into one",
            )
        seen[rule.key] = number
        if rule.fallback and number != len(rules):
            raise _fail(
                source,
                where,
                "is the fallback (fallback = true) but is not the last rule, so the rules after it could never match",
                "move the fallback rule to the end of the file",
            )
    last = rules[-1]
    if not last.fallback:
        raise _fail(
            source,
            f'rule {len(rules)} ("{last.key}"): ',
            "the last rule must be the fallback, so that every lead gets a channel",
            'end the file with a rule such as: [[channel]] key = "unknown" fallback = true',
        )


# --- writing ----------------------------------------------------------------------------------


def rule_settings(rule: ChannelRule) -> dict[str, Any]:
    """One rule as a rules file writes it: the settings :func:`parse_rules` reads back."""
    out: dict[str, Any] = {"key": rule.key, "label": rule.label}
    if rule.any_present:
        out["any_present"] = list(rule.any_present)
    own = {cond.field: list(cond.values) for cond in rule.field_values}
    for name in VALUE_FIELDS:
        if name in own:
            out[name] = own.pop(name)
    if own:
        out["fields"] = own
    if rule.tags:
        out["tags"] = list(rule.tags)
    for flag in _BOOL_SETTINGS:
        if getattr(rule, flag):
            out[flag] = True
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # A JSON string is a TOML basic string: the same escapes, double quotes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (
            f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}" for k, v in value.items()
        )
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(f"a rules file holds texts, lists, tables and true/false, not {value!r}")


def rules_toml(
    rules: Sequence[Mapping[str, Any]], utm_fields: Sequence[str], *, comment: str
) -> str:
    """A rules file: ``comment`` lines, ``utm_fields``, then one ``[[channel]]`` per rule (the
    settings of :func:`rule_settings`, or the same shape typed by a person)."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines += ["", f"utm_fields = {_toml_value(list(utm_fields))}"]
    for rule in rules:
        lines += ["", "[[channel]]"]
        lines += [f"{name} = {_toml_value(value)}" for name, value in rule.items()]
    return "\n".join(lines) + "\n"


__all__ = [
    "DEFAULT_CHANNELS",
    "ChannelRule",
    "ChannelRules",
    "FieldIn",
    "normalise",
    "parse_rules",
    "rule_settings",
    "rules_toml",
]
