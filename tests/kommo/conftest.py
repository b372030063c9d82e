from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The client is asyncio-based; its tests run on asyncio only."""
    return "asyncio"
