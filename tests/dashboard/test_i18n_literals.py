"""No page shows words that are not in a catalogue.

Streamlit calls that put text on the screen (titles, captions, messages, widget labels and help
texts, column headers) must get it from :func:`kommo_analytics.text.i18n.t`, so every word exists
in every language. A string literal with letters in it, or an exception's English text
(``str(exc)``, ``exc.one_line()``), passed straight to such a call is a hard-coded string.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "src" / "kommo_analytics" / "dashboard"
MODULES = sorted([*DASHBOARD.glob("*.py"), *(DASHBOARD / "app_pages").glob("*.py")])

# Streamlit's calls that show their first argument(s) as text, on `st` or on a container.
DISPLAY_CALLS = frozenset({
    "title", "header", "subheader", "caption", "markdown", "write", "text", "info", "warning",
    "error", "success", "toast", "metric", "button", "download_button", "form_submit_button",
    "link_button", "page_link", "selectbox", "multiselect", "radio", "checkbox", "toggle",
    "date_input", "number_input", "text_input", "text_area", "slider", "select_slider",
    "segmented_control", "pills", "expander", "popover", "tabs",
})  # fmt: skip
# Keyword arguments that are shown to the reader.
SHOWN_KEYWORDS = frozenset({"label", "help", "placeholder", "body", "caption"})
# Markup that is not words: f-string fields, Streamlit's :colour-badge[…] and :material/icon:.
_NOT_WORDS = re.compile(r":(?:[a-z]+|\{\})-badge\[|:material/[a-z_]+:|\{\}")


def _words(node: ast.expr) -> str | None:
    """The literal text of `node` when it is a string (or f-string) literal with letters."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
            for v in node.values
        )
    else:
        return None
    text = _NOT_WORDS.sub("", text)
    return text if re.search(r"[^\W\d_]", text) else None


def _english_from_code(node: ast.expr) -> bool:
    """``str(exc)`` or ``exc.one_line()``: an exception's English text shown as it is."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name) and func.id == "str":
        return True
    return isinstance(func, ast.Attribute) and func.attr == "one_line"


def _shown_arguments(call: ast.Call) -> list[ast.expr]:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return []
    if func.attr in DISPLAY_CALLS or func.attr.endswith("Column"):
        shown = list(call.args[:1])
    else:
        return []
    shown += [k.value for k in call.keywords if k.arg in SHOWN_KEYWORDS]
    expanded: list[ast.expr] = []
    for node in shown:  # st.tabs([...]) takes a list of labels
        expanded.extend(node.elts if isinstance(node, ast.List | ast.Tuple) else [node])
    return expanded


def hard_coded(source: str) -> list[tuple[int, str]]:
    """(line, text) of every hard-coded string shown by a Streamlit call in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for argument in _shown_arguments(node):
                words = _words(argument)
                if words is not None:
                    found.append((argument.lineno, words))
                elif _english_from_code(argument):
                    found.append((argument.lineno, ast.unparse(argument)))
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(DASHBOARD)))
def test_no_page_passes_a_hard_coded_string_to_streamlit(module: Path) -> None:
    found = hard_coded(module.read_text(encoding="utf-8"))
    assert not found, (
        f"{module.name}: put these in a catalogue (src/kommo_analytics/text/locales/) and show "
        f"them with t(): {found}"
    )


def test_the_check_finds_what_it_is_meant_to_find() -> None:
    source = """
st.title("Leads")
st.caption(f"Created in {tz}")
sidebar.selectbox(t("filter.period", locale), options, help="Pick a period")
st.column_config.NumberColumn("Value")
st.tabs([t("a", locale), "Second"])
st.warning(str(exc))
st.error(exc.one_line())
st.caption(f":{colour}-badge[{word}] {target}")
st.download_button(t("table.download_csv", locale), file_name=f"{stem}.csv")
st.title(t("leads.title", locale))
"""
    assert [line for line, _ in hard_coded(source)] == [2, 3, 4, 5, 6, 7, 8]
