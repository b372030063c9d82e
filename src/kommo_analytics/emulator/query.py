"""Query strings as Kommo (a PHP application) reads them, with typed, validating accessors.

PHP turns ``filter[created_at][from]=1`` into nested arrays, ``filter[type][]=a`` into an
appended list item and ``filter[statuses][0][status_id]=142`` into an indexed list. Kommo
clients use every one of these spellings (docs/kommo-api.md §3, §7.7), plus comma lists such as
``with=contacts,loss_reason`` and ``filter[type]=a,b``. :func:`parse_query` reproduces the PHP
structure; :class:`Query` reads values out of it and raises :class:`QueryError` (served as a 400
problem with ``validation-errors``, docs/kommo-api.md §6, §11.6) on values Kommo would reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.responses import Response

from kommo_analytics.emulator.http import problem

# SDK default page size (docs/kommo-api.md §5); the entity table holds the maxima.
DEFAULT_LIMIT = 50

_INT64_MAX = 2**63 - 1
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})

Node = str | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class ValidationIssue:
    code: str
    path: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "detail": self.detail}


class QueryError(Exception):
    """A query value Kommo would refuse; becomes a 400 problem+json."""

    def __init__(self, *issues: ValidationIssue) -> None:
        super().__init__("; ".join(f"{i.path}: {i.detail}" for i in issues))
        self.issues = issues

    @classmethod
    def invalid(cls, path: str, detail: str, code: str = "InvalidType") -> QueryError:
        return cls(ValidationIssue(code, path, detail))

    def response(self) -> Response:
        return validation_problem(self.issues)


def validation_problem(issues: Iterable[ValidationIssue]) -> Response:
    return problem(
        400,
        "Bad Request",
        "Request validation failed",
        **{
            "validation-errors": [
                {"request_id": "0", "errors": [issue.as_json() for issue in issues]}
            ]
        },
    )


def _assign(container: dict[str, Any], segments: Sequence[str], value: str) -> None:
    """Set one ``a[b][]`` key the way PHP's parse_str does (an empty segment appends)."""
    node = container
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        key = segment
        if key == "":
            numeric = [int(k) for k in node if k.isdigit()]
            key = str(max(numeric) + 1 if numeric else 0)
        if last:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            # PHP replaces a scalar with an array when a later key nests below it.
            child = {}
            node[key] = child
        node = child


def _normalise(node: Any) -> Any:
    """Index-keyed arrays (``[]`` or ``[0]``, ``[1]``) become lists, in insertion order like PHP."""
    if not isinstance(node, dict):
        return node
    items = {key: _normalise(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return list(items.values())
    return items


def parse_query(raw: str) -> dict[str, Any]:
    """Parse a raw (percent-encoded) query string into PHP-style nested dicts and lists."""
    return parse_pairs(parse_qsl(raw, keep_blank_values=True))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            # A plain key, or a malformed one such as ``filter[id``: PHP keeps it as one name.
            root[key] = value
        else:
            _assign(root, [match.group(1), *_SEGMENT.findall(match.group(2))], value)
    normalised: dict[str, Any] = _normalise(root) if root else {}
    if not isinstance(normalised, dict):
        # Every top-level key was a number (``0=a``): keep it addressable by name.
        return {str(i): v for i, v in enumerate(normalised)}
    return normalised


def path_name(path: Sequence[str]) -> str:
    """``("filter", "id")`` -> ``filter[id]``, the spelling the client sent, for error paths."""
    return path[0] + "".join(f"[{segment}]" for segment in path[1:])


def _parse_int(text: str, path: str) -> int:
    stripped = text.strip()
    if not re.fullmatch(r"-?[0-9]+", stripped):
        raise QueryError.invalid(path, f"This value should be of type int, got {text!r}.")
    value = int(stripped)
    if abs(value) > _INT64_MAX:
        raise QueryError.invalid(path, "This value is out of range.", "OutOfRange")
    return value


def to_int(node: object, path: str) -> int | None:
    """One int from an already-extracted node (blank or absent -> None)."""
    if node is None or node == "":
        return None
    if not isinstance(node, str):
        raise QueryError.invalid(path, "This value should be of type int.")
    return _parse_int(node, path)


def _leaves(node: Node, path: str, *, split: bool = True) -> list[str]:
    """Scalar items of a list filter: ``a,b`` (when ``split``), ``[]=a&[]=b``, ``[0]=a``; blanks
    are skipped."""
    if isinstance(node, str):
        parts = node.split(",") if split else [node]
    elif isinstance(node, list):
        parts = []
        for item in node:
            if not isinstance(item, str):
                raise QueryError.invalid(path, "This value should be a list of scalars.")
            parts.extend(item.split(",") if split else [item])
    else:
        raise QueryError.invalid(path, "This value should be a scalar or a list.")
    return [part.strip() for part in parts if part.strip()]


@dataclass(frozen=True)
class IntRange:
    """``[from]``/``[to]`` bounds (inclusive), or one value (``single``) whose meaning the
    endpoint decides: "exactly" for prices, "from then on" for most timestamps."""

    lo: int | None
    hi: int | None
    single: bool = False


class Query:
    """One request's query string: the parsed structure plus the original pairs (to re-encode
    them into `_links`)."""

    def __init__(self, raw: str) -> None:
        self.pairs: list[tuple[str, str]] = parse_qsl(raw, keep_blank_values=True)
        self.data = parse_pairs(self.pairs)

    # -- raw access ---------------------------------------------------------------------------

    def node(self, *path: str) -> Node | None:
        node: Any = self.data
        for segment in path:
            if isinstance(node, dict):
                node = node.get(segment)
            elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
                node = node[int(segment)]
            else:
                return None
            if node is None:
                return None
        return node  # type: ignore[no-any-return]

    def section(self, name: str) -> dict[str, Any]:
        """A bracketed group such as ``filter``; anything else there (``filter=x``) is refused."""
        node = self.node(name)
        if node is None or node == "":
            return {}
        if isinstance(node, dict):
            return node
        raise QueryError.invalid(name, "This value should be an array.")

    # -- typed accessors ----------------------------------------------------------------------

    def integer(self, *path: str) -> int | None:
        return to_int(self.node(*path), path_name(path))

    def ints(self, *path: str, max_items: int | None = None) -> list[int] | None:
        """An int or a list of ints (comma list, ``[]`` or indexed); None when absent/blank."""
        node = self.node(*path)
        if node is None:
            return None
        name = path_name(path)
        values = [_parse_int(text, name) for text in _leaves(node, name)]
        if max_items is not None and len(values) > max_items:
            raise QueryError.invalid(
                name, f"This collection should contain {max_items} elements or less.", "Count"
            )
        return values or None

    def strings(self, *path: str, split: bool = True) -> list[str] | None:
        """A string or a list of strings. ``split=False`` for free text such as names, where a
        comma is part of the value rather than a separator."""
        node = self.node(*path)
        if node is None:
            return None
        return _leaves(node, path_name(path), split=split) or None

    def text(self, *path: str) -> str | None:
        node = self.node(*path)
        if node is None or node == "":
            return None
        if not isinstance(node, str):
            raise QueryError.invalid(path_name(path), "This value should be of type string.")
        return node

    def boolean(self, *path: str) -> bool | None:
        node = self.node(*path)
        if node is None or node == "":
            return None
        name = path_name(path)
        if isinstance(node, str) and node.strip().lower() in _TRUE:
            return True
        if isinstance(node, str) and node.strip().lower() in _FALSE:
            return False
        raise QueryError.invalid(name, "This value should be of type bool (1, 0, true, false).")

    def int_range(self, *path: str, comma_pair: bool = False) -> IntRange | None:
        """``[from]``/``[to]`` or a single int. ``comma_pair`` also accepts the legacy events
        form ``from,to`` (docs/kommo-api.md §7.7)."""
        node = self.node(*path)
        if node is None or node == "":
            return None
        name = path_name(path)
        if isinstance(node, dict):
            unknown = set(node) - {"from", "to"}
            if unknown:
                raise QueryError.invalid(
                    f"{name}[{sorted(unknown)[0]}]", "Only from and to are allowed here."
                )
            lo = self.integer(*path, "from")
            hi = self.integer(*path, "to")
            if lo is None and hi is None:
                return None
            return IntRange(lo, hi)
        if isinstance(node, str):
            if comma_pair and "," in node:
                lo_text, _, hi_text = node.partition(",")
                return IntRange(
                    _parse_int(lo_text, name) if lo_text.strip() else None,
                    _parse_int(hi_text, name) if hi_text.strip() else None,
                )
            value = _parse_int(node, name)
            return IntRange(value, value, single=True)
        raise QueryError.invalid(name, "This value should be an int or a from/to range.")

    def items(self, *path: str) -> list[dict[str, Any]] | None:
        """A list of bracketed objects such as ``filter[statuses][0][pipeline_id]``."""
        node = self.node(*path)
        if node is None or node == "":
            return None
        if isinstance(node, dict):
            # One object written without an index (``filter[statuses][status_id]=1``).
            node = [node]
        if not isinstance(node, list) or not all(isinstance(item, dict) for item in node):
            raise QueryError.invalid(path_name(path), "This value should be a list of objects.")
        return node

    # -- common parameters --------------------------------------------------------------------

    def page(self) -> int:
        page = self.integer("page")
        if page is None:
            return 1
        if page < 1:
            # UNCERTAIN (docs/kommo-api.md §5): Kommo's answer to page=0 is undocumented; refusing
            # it surfaces client off-by-one bugs instead of silently serving page 1.
            raise QueryError.invalid(
                "page", "This value should be greater than 0.", "GreaterThanOrEqual"
            )
        return page

    def limit(self, max_size: int, *, over_limit_fallback: int | None = None) -> int:
        """The effective page size: default 50; above ``max_size`` it is capped, or, when
        ``over_limit_fallback`` is given (events), silently replaced by that value."""
        limit = self.integer("limit")
        if limit is None:
            return min(DEFAULT_LIMIT, max_size)
        if limit < 1:
            # UNCERTAIN (docs/kommo-api.md §5): undocumented; refused like a bad page number.
            raise QueryError.invalid(
                "limit", "This value should be greater than 0.", "GreaterThanOrEqual"
            )
        if limit > max_size:
            return over_limit_fallback if over_limit_fallback is not None else max_size
        return limit

    def with_(self, allowed: Iterable[str]) -> frozenset[str]:
        # UNCERTAIN (docs/kommo-api.md §3): unknown `with` values are ignored rather than refused,
        # as PHP endpoints typically do for optional expansions.
        requested = self.strings("with") or []
        return frozenset(requested) & frozenset(allowed)

    def order(self, allowed: Sequence[str]) -> tuple[str, str] | None:
        """``order[<field>]=asc|desc``, one field at a time (docs/kommo-api.md §5)."""
        node = self.node("order")
        if node is None or node == "":
            return None
        if not isinstance(node, dict):
            raise QueryError.invalid("order", "Use order[<field>]=asc|desc.", "NotSupportedChoice")
        if len(node) > 1:
            # UNCERTAIN (docs/kommo-api.md §5): the SDK and clients only ever send one field.
            raise QueryError.invalid(
                "order", "Only one order field is allowed.", "NotSupportedChoice"
            )
        field, direction = next(iter(node.items()))
        name = f"order[{field}]"
        if field not in allowed:
            raise QueryError.invalid(
                name,
                f"The value you selected is not a valid choice ({', '.join(allowed) or 'none'}).",
                "NotSupportedChoice",
            )
        if not isinstance(direction, str) or direction.strip().lower() not in ("asc", "desc"):
            raise QueryError.invalid(
                name,
                "The value you selected is not a valid choice (asc, desc).",
                "NotSupportedChoice",
            )
        return field, direction.strip().lower()

    # -- links --------------------------------------------------------------------------------

    def encode(self, page: int | None = None) -> str:
        """The request's own query, re-encoded, with ``page`` set in place (or appended)."""
        pairs = list(self.pairs)
        if page is not None:
            replaced = False
            for index, (key, _) in enumerate(pairs):
                if key == "page":
                    if replaced:
                        pairs[index] = ("", "")
                    else:
                        pairs[index] = ("page", str(page))
                        replaced = True
            pairs = [pair for pair in pairs if pair != ("", "")]
            if not replaced:
                pairs.append(("page", str(page)))
        # Brackets are percent-encoded and comma lists kept readable, as in docs/kommo-api.md §11.1.
        return urlencode(pairs, quote_via=quote, safe=",")
