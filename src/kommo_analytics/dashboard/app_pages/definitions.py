"""Definitions: what every number means, in the chosen language, searchable. The texts are the
ones `docs/metrics.md` is rendered from (:mod:`kommo_analytics.text.definitions`), in the
same order and sections, so the page, the tooltips and the document cannot disagree. It reads
no warehouse: it works before the first sync.

The document serves whoever reads `metrics --json` too; the page is for the people who read the
dashboard, so it leaves out what only a program needs (ids, the forecast's seed and method, the
report's echo of its own parameters) and says each thing once: a table's column named like a
headline metric ("Revenue" per seller, per channel) is that metric, already on the page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

import streamlit as st

from kommo_analytics.dashboard import filters
from kommo_analytics.text import definitions, i18n
from kommo_analytics.text.definitions import Definition
from kommo_analytics.text.i18n import Locale, t

SEARCH_KEY: Final = "definitions.search"
CONTEXT: Final = "context"  # the report's context (period, filters, model): the last section
# Characters Streamlit's Markdown would read as formatting: "R$ … R$" would turn into a formula.
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]<>$~|#])")


# Entries only a program reading `metrics --json` needs.
DEVELOPER_ONLY: Final = frozenset(
    {
        "concept.compatibility_views",
        "goals_imported",
        "leads.cost.imported",
        "forecast.status",
        "forecast.note",
        "forecast.method",
        "forecast.seed",
    }
)
ID_FIELDS: Final = ("pipeline_id", "status_id", "user_id")
# The report's context (its period, filters and the model's stamp) echoes what the sidebar and
# the caption under each title already say; these few tell a reader something more.
READER_CONTEXT: Final = frozenset(
    {"model.built_at", "model.timezone", "model.channels", "model.channel_rules"}
)


def fold(text: str) -> str:
    """`text` for matching: lower case, without accents ("Conversão" ~ "conversao")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def matches(item: Definition, query: str) -> bool:
    """Whether every word of `query` is in the definition's title, text or key (accents and
    case ignored); an empty query matches everything."""
    haystack = fold(" ".join((item.title, item.definition, item.key)))
    return all(word in haystack for word in fold(query).split())


def sections(items: Iterable[Definition]) -> list[tuple[str, list[Definition]]]:
    """(module, entries) in the order of `docs/metrics.md`: the common rules (concepts), modules
    1–6, then the report's context (:data:`CONTEXT`, the "common" metrics); empty ones dropped."""
    items = list(items)
    out: list[tuple[str, list[Definition]]] = []
    for module in definitions.MODULES:
        if module == "common":
            chosen = [d for d in items if d.module == module and d.is_concept]
        else:
            chosen = [d for d in items if d.module == module]
        if chosen:
            out.append((module, chosen))
    context = [d for d in items if d.module == "common" and not d.is_concept]
    if context:
        out.append((CONTEXT, context))
    return out


def for_readers(items: Iterable[Definition]) -> list[Definition]:
    """The entries the page shows, in document order: no developer-only entry, and one entry per
    title — where a table's column (an entry under another, `sellers.revenue` under `sellers`)
    is titled like another entry, the one that is not a column stays; between equals, the first."""
    items = list(items)
    keys = {d.key for d in items}

    def developer_only(item: Definition) -> bool:
        if item.key in DEVELOPER_ONLY or item.key.rsplit(".", 1)[-1] in ID_FIELDS:
            return True
        context = item.module == "common" and not item.is_concept
        return context and item.key not in READER_CONTEXT

    def is_column(item: Definition) -> bool:
        parts = item.key.split(".")
        return any(".".join(parts[:n]) in keys for n in range(1, len(parts)))

    kept = [d for d in items if not developer_only(d)]
    best: dict[str, tuple[bool, int]] = {}
    for index, item in enumerate(kept):
        rank = (is_column(item), index)
        title = fold(item.title)
        if title not in best or rank < best[title]:
            best[title] = rank
    chosen = {index for _, index in best.values()}
    return [item for index, item in enumerate(kept) if index in chosen]


def escape(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def heading(module: str, locale: Locale) -> str:
    if module == CONTEXT:
        return definitions.label("context", locale)
    return definitions.module_name(module, locale)


def show(item: Definition, locale: Locale, expanded: bool) -> None:
    with st.expander(escape(item.title), expanded=expanded):
        if not item.is_concept:
            st.markdown(f"`{item.key}`")
        st.markdown(escape(item.definition))
        if item.formula:
            st.markdown(f"**{definitions.label('formula', locale)}**")
            st.code(item.formula, language=None, wrap_lines=True)
        if item.basis:
            st.markdown(f"**{definitions.label('basis', locale)}:** {escape(item.basis)}")
        if item.edge_cases:
            st.markdown(f"**{definitions.label('edge_cases', locale)}:** {escape(item.edge_cases)}")


def render() -> None:
    view = filters.current_view()
    locale = view.locale
    st.title(t("definitions.title", locale))
    st.caption(t("definitions.caption", locale))
    query = (
        st.text_input(
            t("definitions.search", locale),
            key=SEARCH_KEY,
            placeholder=t("definitions.search_placeholder", locale),
            icon=":material/search:",
        )
        or ""
    ).strip()
    every = for_readers(definitions.all_definitions(locale))
    found = [d for d in every if matches(d, query)]
    if not found:
        st.info(t("definitions.no_match", locale, query=query))
        return
    if query:
        st.caption(i18n.tn("definitions.found", len(found), locale))
    for module, items in sections(found):
        st.subheader(heading(module, locale))
        for item in items:
            # A search opens what it found; the full list stays folded, to be scanned by title.
            show(item, locale, expanded=bool(query))


if __name__ == "__main__":
    render()
