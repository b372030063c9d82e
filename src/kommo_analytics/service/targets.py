"""KPI targets: the values the overview's cards and the weekly report are measured against.

Defaults are the earlier system's KPI table; a manager changes them on the Settings page, and
they are kept in ``DATA_DIR/kpi_targets.json`` (written whole, atomically), so every user of the
dashboard and every restart sees the same targets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from kommo_analytics import files
from kommo_analytics.errors import ConfigError
from kommo_analytics.model.inputs import parse_amount

Direction = Literal["higher", "lower"]
FILE_NAME: Final = "kpi_targets.json"


@dataclass(frozen=True)
class Target:
    key: str
    direction: Direction  # "higher": at least the target is good; "lower": at most
    default: float
    unit: Literal["pct", "money", "hours", "days"]


TARGETS: Final[tuple[Target, ...]] = (
    Target("win_rate_pct", "higher", 25.0, "pct"),
    Target("avg_ticket", "higher", 5000.0, "money"),
    Target("first_response_hours", "lower", 2.0, "hours"),
    Target("task_completion_pct", "higher", 80.0, "pct"),
    Target("sales_cycle_days", "lower", 30.0, "days"),
    Target("cost_per_lead", "lower", 200.0, "money"),
    Target("marketing_roi_pct", "higher", 300.0, "pct"),
)
BY_KEY: Final = {t.key: t for t in TARGETS}


def path_in(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load(data_dir: Path) -> dict[str, float]:
    """The targets in force: the saved ones over the defaults. A damaged file is reported, not
    silently replaced by defaults (a manager would not know their targets were lost)."""
    values = {t.key: t.default for t in TARGETS}
    path = path_in(data_dir)
    if not path.exists():
        return values
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
        for key, value in saved.items():
            if key in BY_KEY:
                values[key] = float(value)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"the KPI targets file {path} cannot be read ({exc})",
            hint="fix or delete it; the Settings page writes a new one",
        ) from exc
    return values


def save(data_dir: Path, values: dict[str, float]) -> None:
    for key, value in values.items():
        if key not in BY_KEY:
            raise ConfigError(f"unknown KPI target {key!r}")
        if value < 0:
            raise ConfigError(f"the target for {key} cannot be negative")
    files.private_dir(data_dir)
    files.write_private_json(path_in(data_dir), {k: values[k] for k in sorted(values)})


def parse(text: str) -> float:
    """A target as a person types it, with or without its unit, in either decimal convention:
    "R$ 5.000,00", "5000", "25 %", "2,5 h" (ValueError when it is not a number)."""
    # Units and currency symbols go; a sign stays, for save() to refuse.
    return float(parse_amount(re.sub(r"[^\d.,-]", "", text)))


def hit(key: str, value: float | None, targets: dict[str, float]) -> bool | None:
    """Whether `value` meets its target (None when there is no value)."""
    if value is None:
        return None
    spec = BY_KEY[key]
    return value >= targets[key] if spec.direction == "higher" else value <= targets[key]
