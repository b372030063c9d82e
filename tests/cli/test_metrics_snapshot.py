"""`metrics --json` pinned to a snapshot: refactoring the path from the warehouse to the report
(read service, typed results, database boundary) must not change one number or key.

The snapshots were taken from the code before that refactoring. After an intended change of
output, regenerate them with `KOMMO_UPDATE_SNAPSHOTS=1 pytest tests/cli/test_metrics_snapshot.py`
and review the diff like code.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kommo_analytics.cli.main import app

runner = CliRunner()
SNAPSHOTS = Path(__file__).parent / "snapshots"
EXAMPLES = Path(__file__).parents[2] / "examples"
# Read at import: the fixtures below clear every KOMMO_ variable.
UPDATE = os.environ.get("KOMMO_UPDATE_SNAPSHOTS") == "1"
PERIOD = ["--from", "2026-10-01", "--to", "2026-10-31", "--as-of", "2026-11-25T12:00"]


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _stable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the moment the model was built (the clock of the test run)."""
    assert document["model"]["built_at"]
    document["model"]["built_at"] = "<built_at>"
    return document


def _check(name: str, document: dict[str, Any]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    actual = json.loads(text)  # what the CLI printed, read back as the snapshot is
    differences = list(_differences(expected, actual))
    assert not differences, f"{name}: " + "; ".join(differences[:20])


def _differences(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Every place where the two documents differ, key order of objects included."""
    if type(expected) is not type(actual):
        yield f"{where or '/'}: {expected!r} became {actual!r}"
    elif isinstance(expected, dict):
        if list(expected) != list(actual):
            yield f"{where or '/'}: keys {list(expected)} became {list(actual)}"
        for key in expected.keys() & actual.keys():
            yield from _differences(expected[key], actual[key], f"{where}/{key}")
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            yield f"{where}: {len(expected)} items became {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            yield from _differences(e, a, f"{where}[{i}]")
    elif isinstance(expected, float):
        # DuckDB sums in parallel, in an order that depends on the machine's threads, so the
        # last bits of a mean may differ between runs, and the forecast's smoothing fit (an
        # optimiser) stops a hair elsewhere when its inputs do: one simulated P10 moved 1.2e-9
        # between two machines. A real change moves far more than one part in a million.
        if not math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9):
            yield f"{where}: {expected!r} became {actual!r}"
    elif expected != actual:
        yield f"{where}: {expected!r} became {actual!r}"


def test_metrics_json_matches_the_snapshot(warehouse: Path) -> None:
    _check("metrics_small_seed3", _stable(json.loads(_invoke("metrics", *PERIOD, "--json"))))


def test_metrics_json_with_costs_goals_and_filters_matches_the_snapshot(
    warehouse: Path, tmp_path: Path
) -> None:
    sellers = json.loads(_invoke("metrics", *PERIOD, "--json"))["sellers"]
    goals = tmp_path / "goals.csv"
    goals.write_text(
        "month;user;revenue_goal;deals_goal\n"
        + "".join(
            f"2026-10;{s['name']};{10_000 * (i + 1)};{i + 2}\n" for i, s in enumerate(sellers)
        )
        + "2026-11;"
        + sellers[0]["name"]
        + ";5000;1\n",
        encoding="utf-8",
    )
    _invoke("costs", "import", str(EXAMPLES / "costs.csv"))
    _invoke("goals", "import", str(goals))
    whole = _stable(json.loads(_invoke("metrics", *PERIOD, "--json")))
    filtered = _stable(json.loads(_invoke("metrics", *PERIOD, "--json", "--channel", "paid",
                                          "--channel", "referral")))  # fmt: skip
    _check("metrics_small_seed3_imports", {"whole": whole, "paid_and_referral": filtered})
