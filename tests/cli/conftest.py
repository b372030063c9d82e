"""Shared by the CLI tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.sync.harness import synced_copy


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty folder as the working directory, and no Kommo or database settings from the
    machine running the tests (so a developer's own .env can never leak into a test)."""
    for name in list(os.environ):
        if name.startswith("KOMMO_") or name in ("DATABASE_URL", "DATA_DIR"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def synced_dir(small_synced: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small emulated account (seed 3) synced: a copy of the session's per test module."""
    base = tmp_path_factory.mktemp("metrics_cli")
    synced_copy(small_synced, base)
    return base


@pytest.fixture
def warehouse(synced_dir: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the synced warehouse (imports write to it), set as the default."""
    folder = clean_env / "data"
    shutil.copytree(synced_dir / "warehouse", folder)
    monkeypatch.setenv("DATA_DIR", str(folder))
    return folder
