"""Placeholder replaced by its owner; see app.py for the interface."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from kommo_analytics.emulator.state import EmulatorState


def routes(state: EmulatorState) -> list[BaseRoute]:
    return []
