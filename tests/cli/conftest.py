"""Shared by the CLI tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty folder as the working directory, and no Kommo or database settings from the
    machine running the tests (so a developer's own .env can never leak into a test)."""
    for name in list(os.environ):
        if name.startswith("KOMMO_") or name in ("DATABASE_URL", "DATA_DIR"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
