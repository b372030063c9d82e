"""Everything one running emulator knows, shared by its routes and middleware."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kommo_analytics.emulator.config import EmulatorConfig
from kommo_analytics.emulator.store import AccountStore


@dataclass
class EmulatorState:
    store: AccountStore
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    # The clock is injectable so that tests can move time (token expiry, rate windows).
    clock: Callable[[], float] = time.time
