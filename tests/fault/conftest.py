from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fault.procs import LIVE


@pytest.fixture(autouse=True)
async def reap_children() -> AsyncIterator[None]:
    """A failed or timed-out fault test must not leave a gateway or settler running."""
    yield
    for proc in list(LIVE):
        await proc.kill()
