from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fault.procs import LIVE
from tests.fault.tcp_proxy import CuttableProxy


@pytest.fixture(autouse=True)
async def reap_children() -> AsyncIterator[None]:
    """A failed or timed-out fault test must not leave a gateway or settler running."""
    yield
    for proc in list(LIVE):
        await proc.kill()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[CuttableProxy]:
    """A proxy in front of the suite's Redis that a test can cut or slow
    (`REDIS_URL=proxy.redis_url` for a gateway behind it)."""
    proxy = CuttableProxy("127.0.0.1", 6379)
    await proxy.start()
    yield proxy
    await proxy.close()
