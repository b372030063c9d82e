from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The emulator tests run their async clients on asyncio only."""
    return "asyncio"
