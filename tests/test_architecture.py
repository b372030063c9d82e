"""The layers of docs/architecture.md, checked on the source: which top-level package may import
which, no import cycle between them, no SQL in the dashboard, no I/O in the metrics.

Imports inside functions count as much as those at the top of a module: a lazy import is still
a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "kommo_analytics"

# Who may import whom (besides itself). Read downwards: a package may use those below it in the
# data flow, never those above. Keep in step with the table in docs/architecture.md.
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "files": frozenset(),
    # Log files and secret masking: beside files.py, because the warehouse writes the sync's log.
    "logs": frozenset({"files"}),
    "workdays": frozenset({"errors"}),
    "settings": frozenset({"errors", "workdays", "text"}),
    "text": frozenset({"errors", "workdays"}),
    "kommo": frozenset({"errors", "files", "settings"}),
    "emulator": frozenset({"errors", "settings", "kommo"}),
    "warehouse": frozenset({"errors", "files", "logs", "settings", "kommo"}),
    "model": frozenset({"errors", "settings", "kommo", "warehouse"}),
    "sync": frozenset({"errors", "files", "settings", "kommo", "warehouse", "model"}),
    "metrics": frozenset({"errors", "text", "workdays"}),
    "forecast": frozenset({"errors", "kommo", "workdays"}),
    "service": frozenset(
        {
            "errors",
            "files",
            "logs",
            "settings",
            "text",
            "workdays",
            "kommo",
            "warehouse",
            "model",
            "sync",
            "metrics",
            "forecast",
        }
    ),
    "dashboard": frozenset(
        {"errors", "files", "settings", "text", "workdays", "metrics", "service"}
    ),
    "automation": frozenset(
        {
            "errors",
            "files",
            "logs",
            "settings",
            "text",
            "workdays",
            "kommo",
            "sync",
            "metrics",
            "forecast",
            "service",
        }
    ),
    "cli": frozenset(
        {
            "automation",
            "errors",
            "files",
            "logs",
            "settings",
            "text",
            "workdays",
            "kommo",
            "sync",
            "metrics",
            "service",
            "emulator",
            "dashboard",
        }
    ),
    "__main__": frozenset({"cli"}),
    "__init__": frozenset(),
}


def _top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level package of ours) for every import in the tree."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "kommo_analytics" or len(parts) < 2:
                continue
            if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file():
                yield node.lineno, parts[1]


def _graph() -> dict[str, dict[str, list[str]]]:
    """package → imported package → where ("file:line")."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _top(path)
        for line, target in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if target != source:
                where = f"{path.relative_to(PACKAGE)}:{line}"
                places = graph.setdefault(source, {}).setdefault(target, [])
                if where not in places:
                    places.append(where)
    return graph


def test_every_top_level_package_has_a_place_in_the_layers() -> None:
    packages = {_top(p) for p in PACKAGE.rglob("*.py")}
    assert packages <= set(ALLOWED), f"add {sorted(packages - set(ALLOWED))} to ALLOWED"


def test_packages_import_only_the_layers_below_them() -> None:
    wrong = [
        f"{source} → {target} ({', '.join(places[:3])})"
        for source, targets in _graph().items()
        for target, places in targets.items()
        if target not in ALLOWED.get(source, frozenset())
    ]
    assert not wrong, "imports against the layers of docs/architecture.md: " + "; ".join(wrong)


def test_no_import_cycle_between_top_level_packages() -> None:
    graph = {source: set(targets) for source, targets in _graph().items()}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = [*path[path.index(node) :], node]
            pytest.fail("import cycle: " + " → ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above is only worth something if it can fail."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    seen: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        if node in path:
            seen.extend([*path[path.index(node) :], node])
            return True
        return any(visit(n, [*path, node]) for n in sorted(graph[node]))

    assert visit("a", [])
    assert seen == ["a", "b", "c", "a"]


SQL = re.compile(
    r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|CREATE\s+TABLE"
    r"|DROP\s+TABLE)\b"
)


def _string_constants(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            yield node.lineno, text


def test_the_sql_pattern_recognises_sql_and_not_prose() -> None:
    assert SQL.search("SELECT id, name FROM leads")
    assert SQL.search("select count(*) from x".upper())
    assert not SQL.search("Select a period from the sidebar")  # a sentence, not a statement
    assert not SQL.search("Update the goals")


def test_the_dashboard_runs_no_sql() -> None:
    found = sorted(
        {
            f"{path.relative_to(PACKAGE)}:{line}"
            for path in (PACKAGE / "dashboard").rglob("*.py")
            for line, text in _string_constants(path)
            if SQL.search(text)
        }
    )
    assert not found, f"SQL in the dashboard (it belongs to the read service): {found}"


IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "load", "connect"}
IO_MODULES = {
    "duckdb",
    "httpx",
    "pymysql",
    "psycopg",
    "sqlalchemy",
    "tomllib",
    "requests",
    "socket",
}


@pytest.mark.parametrize("layer", ["metrics", "forecast"])
def test_pure_layers_do_no_io(layer: str) -> None:
    folder = PACKAGE / layer
    if not folder.is_dir():
        pytest.skip(f"{layer}/ does not exist yet")
    found: list[str] = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in IO_CALLS:
                    found.append(f"{where} {name}()")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                modules = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                found.extend(
                    f"{where} import {m}" for m in modules if m.split(".")[0] in IO_MODULES
                )
    assert not found, f"I/O in the pure {layer}/ layer: {found}"
