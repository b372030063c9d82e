"""The read service is the dashboard's only way to data, and the metrics stay pure: checked on
the source, so a shortcut fails here rather than in review."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import kommo_analytics

PACKAGE = Path(kommo_analytics.__file__).parent
# A statement as code writes it: a keyword followed by what only SQL puts after it.
SQL = re.compile(
    r"\bSELECT\s+[\w*(]|\bFROM\s+\{|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_the_dashboard_reads_only_through_the_service() -> None:
    forbidden = ("kommo_analytics.warehouse", "kommo_analytics.model", "kommo_analytics.kommo")
    for path in sorted((PACKAGE / "dashboard").rglob("*.py")):
        wrong = {m for m in imported_modules(path) if m.startswith(forbidden)}
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"
        sql = [s for s in strings(path) if SQL.search(s)]
        assert not sql, f"{path.relative_to(PACKAGE)} holds SQL: {sql[0][:80]!r}"


def test_the_metrics_import_no_other_layer() -> None:
    allowed = ("kommo_analytics.metrics", "kommo_analytics.errors")
    for path in sorted((PACKAGE / "metrics").rglob("*.py")):
        others = {
            m
            for m in imported_modules(path)
            if m.startswith("kommo_analytics.") and not m.startswith(allowed)
        }
        assert not others, f"{path.relative_to(PACKAGE)} imports {sorted(others)}"
