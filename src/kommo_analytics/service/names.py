"""Pipelines and sellers as people type them (a name, an e-mail or an id) → their ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kommo_analytics.errors import ConfigError
from kommo_analytics.model.inputs import UserRef
from kommo_analytics.model.schema import model_qualified
from kommo_analytics.service import _sql
from kommo_analytics.warehouse.target import Target


def pipelines(target: Target, values: Sequence[str]) -> list[int]:
    rows = _dimension(target, "dim_pipelines", "pipeline_id, name")
    return _resolve(values, [(int(i), [str(n or "")]) for i, n in rows], "pipeline")


def sellers(target: Target, values: Sequence[str]) -> list[int]:
    known = [(u.id, [u.name or "", u.email or ""]) for u in users(target)]
    return _resolve(values, known, "seller")


def users(target: Target) -> list[UserRef]:
    """The model's users (none before a build)."""
    rows = _dimension(target, "dim_users", "user_id, name, email")
    return [UserRef(int(i), n, e) for i, n, e in rows]


def _dimension(target: Target, table: str, columns: str) -> list[tuple[Any, ...]]:
    return (
        # SQL text: the callers' fixed columns and a model table; no user value.
        _sql.rows_if_present(target, f"SELECT {columns} FROM {model_qualified(target, table)}")  # nosec B608
        or []
    )


def _resolve(values: Sequence[str], known: list[tuple[int, list[str]]], what: str) -> list[int]:
    ids: list[int] = []
    for value in values:
        text = value.strip()
        if text.isdigit() and any(i == int(text) for i, _ in known):
            ids.append(int(text))
            continue
        matches = [i for i, names in known if any(n.strip().lower() == text.lower() for n in names)]
        if len(matches) != 1:
            choices = ", ".join(f"{names[0]} ({i})" for i, names in known[:12])
            problem = "is ambiguous" if matches else "is unknown"
            raise ConfigError(f"{what} {value!r} {problem}", hint=f"give an id; known: {choices}")
        ids.append(matches[0])
    return ids
