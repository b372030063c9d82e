"""Shared by the automation tests: the CLI tests' clean working folder and environment."""

from __future__ import annotations

from tests.cli.conftest import clean_env

__all__ = ["clean_env"]
