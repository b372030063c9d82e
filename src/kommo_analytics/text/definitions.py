"""What every metric means, in words people read: loaded from ``definitions.toml``.

The TOML file is the one place a metric's definition is written (in English, Brazilian
Portuguese and Latin American Spanish); ``docs/metrics.md`` is rendered from it
(``scripts/render_metrics_doc.py``), and the dashboard's tooltips and "Definitions" page read it
through :func:`tooltip` and :func:`all_definitions`.

Keys are the paths of ``kommo-analytics metrics --json``: ``leads.total``,
``funnel.stages.conversion_to_next_pct`` (list rows named by their field, without brackets),
``sellers.attainment_pct``. Rules shared by several metrics are ``concept.NAME`` entries
(``concept.period``, ``concept.channel`` …). :func:`report_keys` walks a report and names the
entry that documents each of its values, so a test can prove that nothing goes undocumented.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from kommo_analytics.text.languages import DOCUMENT_DEFAULT, LOCALES, closest

# Every text is written in each of these; English is the fallback and the language of
# docs/metrics.md.
LANGUAGES: tuple[str, ...] = LOCALES
DEFAULT_LANGUAGE: str = DOCUMENT_DEFAULT
# The document's sections, in order: "common" holds the shared rules (concepts) first and the
# report's context (period, filters, model) last.
MODULES: tuple[str, ...] = ("common", "1", "2", "3", "4", "5", "6")
CONCEPT_PREFIX = "concept."

_FILE = "definitions.toml"
_TEXT_FIELDS = ("title", "definition", "basis", "edge_cases")
_REQUIRED_TEXT = ("title", "definition")
_FIELDS = ("module", "formula", *_TEXT_FIELDS)
_DOC_FIELDS = (
    "title",
    "generated",
    "intro",
    "contents",
    "concepts",
    "metrics",
    "context",
    "formula",
    "basis",
    "edge_cases",
)

# Objects whose keys are data (channel keys), not names: one entry documents the whole object.
MAP_KEYS: tuple[str, ...] = ("leads.by_channel", "leads.cost.by_channel")
# Objects whose keys name parallel lists of one shape (the three UTM tables): one set of entries.
GROUP_KEYS: tuple[str, ...] = ("leads.utm",)


@dataclass(frozen=True)
class Definition:
    """One metric or concept, in one language (missing translations fall back to English)."""

    key: str
    module: str
    title: str
    definition: str
    formula: str | None
    basis: str | None
    edge_cases: str | None

    @property
    def is_concept(self) -> bool:
        return self.key.startswith(CONCEPT_PREFIX)


# -- loading ----------------------------------------------------------------------------------------


class DefinitionsError(ValueError):
    """definitions.toml is malformed (a packaging or editing mistake, caught by the tests)."""


@functools.cache
def _raw() -> dict[str, Any]:
    text = resources.files("kommo_analytics.text").joinpath(_FILE).read_text("utf-8")
    return tomllib.loads(text)


def _texts(where: str, name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise DefinitionsError(f"{where}: {name} must be a table of languages (en, pt-BR, es)")
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise DefinitionsError(f"{where}: {name}.{lang} is not one of {', '.join(LANGUAGES)}")
        if not isinstance(text, str) or not text.strip():
            raise DefinitionsError(f"{where}: {name}.{lang} must be a non-empty text")
    if DEFAULT_LANGUAGE not in value:
        raise DefinitionsError(f"{where}: {name}.{DEFAULT_LANGUAGE} is missing")
    return {lang: " ".join(text.split()) for lang, text in value.items()}


@dataclass(frozen=True)
class _Entry:
    key: str
    module: str
    formula: str | None
    texts: dict[str, dict[str, str]]  # field → language → text

    def text(self, field: str, lang: str) -> str | None:
        by_lang = self.texts.get(field)
        if by_lang is None:
            return None
        return by_lang.get(lang) or by_lang[DEFAULT_LANGUAGE]

    def localized(self, lang: str) -> Definition:
        return Definition(
            key=self.key,
            module=self.module,
            title=self.text("title", lang) or "",
            definition=self.text("definition", lang) or "",
            formula=self.formula,
            basis=self.text("basis", lang),
            edge_cases=self.text("edge_cases", lang),
        )


def _entry(key: str, raw: Any) -> _Entry:
    where = f"{_FILE} [{key}]"
    if not isinstance(raw, dict):
        raise DefinitionsError(f"{where}: must be a table")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise DefinitionsError(f"{where}: unknown field(s) {', '.join(unknown)}")
    module = str(raw.get("module", ""))
    if module not in MODULES:
        raise DefinitionsError(f'{where}: module must be 1–6 or "common", not {module!r}')
    formula = raw.get("formula")
    if formula is not None and (not isinstance(formula, str) or not formula.strip()):
        raise DefinitionsError(f"{where}: formula must be a non-empty text")
    for name in _REQUIRED_TEXT:
        if name not in raw:
            raise DefinitionsError(f"{where}: {name} is missing")
    texts = {name: _texts(where, name, raw[name]) for name in _TEXT_FIELDS if name in raw}
    return _Entry(key, module, formula.strip() if formula else None, texts)


@functools.cache
def _entries() -> dict[str, _Entry]:
    """Every entry by key, in the order of the rendered document: the common rules, then per
    module 1–6 its concepts and its metrics (each in file order), then the report's context
    (the "common" metrics: period, filters, model)."""
    data = _raw()
    unknown = sorted(set(data) - {"doc", "concept", "metric"})
    if unknown:
        raise DefinitionsError(f"{_FILE}: unknown top-level table(s) {', '.join(unknown)}")
    concepts = [_entry(CONCEPT_PREFIX + name, raw) for name, raw in data["concept"].items()]
    metrics = []
    for key, raw in data["metric"].items():
        if key.startswith(CONCEPT_PREFIX):
            raise DefinitionsError(f"{_FILE}: metric key {key!r} may not start with 'concept.'")
        metrics.append(_entry(key, raw))
    ordered = [c for c in concepts if c.module == "common"]
    for module in MODULES[1:]:
        ordered += [e for e in (*concepts, *metrics) if e.module == module]
    ordered += [m for m in metrics if m.module == "common"]
    return {e.key: e for e in ordered}


@functools.cache
def _doc() -> dict[str, dict[str, str]]:
    raw = _raw().get("doc")
    if not isinstance(raw, dict):
        raise DefinitionsError(f"{_FILE}: the [doc] table is missing")
    texts = {name: _texts(f"{_FILE} [doc]", name, raw.get(name)) for name in _DOC_FIELDS}
    modules = raw.get("module")
    if not isinstance(modules, dict) or set(modules) != set(MODULES):
        raise DefinitionsError(f"{_FILE} [doc]: module names must be given for {MODULES}")
    for module in MODULES:
        texts[f"module.{module}"] = _texts(f"{_FILE} [doc]", f"module.{module}", modules[module])
    return texts


def normalize_language(lang: str) -> str:
    """ "pt-BR", "pt_BR", "pt" → "pt-BR"; "es", "es-MX", "es_419" → "es"; anything else → "en"."""
    return closest(lang, DOCUMENT_DEFAULT)


def _doc_text(name: str, lang: str) -> str:
    by_lang = _doc()[name]
    return by_lang.get(lang) or by_lang[DEFAULT_LANGUAGE]


# -- the API ------------------------------------------------------------------------------------------


def label(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A label of the document itself (``formula``, ``basis``, ``edge_cases``, ``context``, …)
    in `lang`, so every place that shows a definition names its parts with the same words."""
    return _doc_text(name, normalize_language(lang))


def definition(key: str, lang: str = DEFAULT_LANGUAGE) -> Definition:
    """The definition of a metric (its JSON path) or of a concept (``concept.NAME``).

    Raises KeyError for a key that has no definition.
    """
    entry = _entries().get(key)
    if entry is None:
        raise KeyError(f"no definition for {key!r} (see {_FILE})")
    return entry.localized(normalize_language(lang))


def all_definitions(lang: str = DEFAULT_LANGUAGE) -> list[Definition]:
    """Every definition, in the order of ``docs/metrics.md``: the common rules, modules 1–6
    (concepts first, then metrics), then the report's context (period, filters, model)."""
    lang = normalize_language(lang)
    return [entry.localized(lang) for entry in _entries().values()]


def module_name(module: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The heading of a module ("1" → "1. Lead intake and origin"; "common" → "Common rules")."""
    if module not in MODULES:
        raise KeyError(f"no module {module!r}; modules are {', '.join(MODULES)}")
    return _doc_text(f"module.{module}", normalize_language(lang))


def tooltip(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A short help text: the definition, then the formula when there is one."""
    d = definition(key, lang)
    if d.formula is None:
        return d.definition
    return f"{d.definition}\n\n{_doc_text('formula', normalize_language(lang))}: {d.formula}"


def render_markdown(lang: str = DEFAULT_LANGUAGE) -> str:
    """The whole document (``docs/metrics.md`` is ``render_markdown("en")``)."""
    lang = normalize_language(lang)
    definitions = all_definitions(lang)
    out: list[str] = [
        f"> {_doc_text('generated', lang)}",
        "",
        f"# {_doc_text('title', lang)}",
        "",
        _doc_text("intro", lang),
        "",
        f"**{_doc_text('contents', lang)}**",
        "",
    ]
    sections = list(_sections(definitions, lang))
    out.extend(f"- [{heading}](#{anchor})" for anchor, heading, _ in sections)
    for anchor, heading, items in sections:
        out += ["", f'<a id="{anchor}"></a>', "", f"## {heading}"]
        for d in items:
            out += ["", f"### {d.title}", ""]
            if not d.is_concept:
                out += [f"`{d.key}`", ""]
            out.append(d.definition)
            details = []
            if d.formula:
                details.append(f"- **{_doc_text('formula', lang)}:** `{d.formula}`")
            if d.basis:
                details.append(f"- **{_doc_text('basis', lang)}:** {d.basis}")
            if d.edge_cases:
                details.append(f"- **{_doc_text('edge_cases', lang)}:** {d.edge_cases}")
            if details:
                out += ["", *details]
    return "\n".join(out) + "\n"


def _sections(
    definitions: list[Definition], lang: str
) -> Iterator[tuple[str, str, list[Definition]]]:
    """(anchor, heading, entries): the common rules, modules 1–6, then the report's context."""
    for module in MODULES:
        items = [d for d in definitions if d.module == module]
        if module == "common":
            concepts = [d for d in items if d.is_concept]
            if concepts:
                yield "common-rules", _doc_text("module.common", lang), concepts
        elif items:
            yield f"module-{module}", _doc_text(f"module.{module}", lang), items
    context = [d for d in definitions if d.module == "common" and not d.is_concept]
    if context:
        yield "report-context", _doc_text("context", lang), context


# -- which entry documents which value of a report ------------------------------------------------------


def report_keys(report: Mapping[str, Any]) -> list[str]:
    """The definition keys a report's values need, in the report's order, each once.

    Every value gets its path: list rows are named by their field without brackets
    (``funnel.stages.reached``), each list by its own path (``funnel.stages``); the objects in
    :data:`MAP_KEYS` count as one value, and the tables under :data:`GROUP_KEYS` share one set of
    keys (``leads.utm.leads`` for the ``leads`` of every UTM table).
    """
    seen: dict[str, None] = {}
    _walk(report, "", seen)
    return list(seen)


def _walk(value: Any, path: str, seen: dict[str, None], *, grouped: bool = False) -> None:
    """``grouped``: the level of a :data:`GROUP_KEYS` object at ``path`` is already behind."""
    if path in MAP_KEYS:
        seen[path] = None
    elif isinstance(value, Mapping):
        if path in GROUP_KEYS and not grouped:
            for item in value.values():
                _walk(item, path, seen, grouped=True)
            return
        for name, item in value.items():
            _walk(item, f"{path}.{name}" if path else str(name), seen)
    elif isinstance(value, list):
        seen[path] = None
        for item in value:
            _walk(item, path, seen, grouped=grouped)
    else:
        seen[path] = None


def metric_keys() -> list[str]:
    """Every metric key with a definition (concepts left out), in document order."""
    return [key for key in _entries() if not key.startswith(CONCEPT_PREFIX)]


__all__ = [
    "LANGUAGES",
    "MODULES",
    "Definition",
    "DefinitionsError",
    "all_definitions",
    "definition",
    "metric_keys",
    "module_name",
    "normalize_language",
    "render_markdown",
    "report_keys",
    "tooltip",
]
