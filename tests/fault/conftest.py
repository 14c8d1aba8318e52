from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.fault.procs import LIVE
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.harness import temp_database


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


@pytest.fixture
async def pg_proxy(dsn: str) -> AsyncIterator[CuttableProxy]:
    """A proxy in front of the suite's PostgreSQL (`pg_proxy.dsn(dsn)` for a gateway
    behind it)."""
    parts = urlsplit(dsn)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def own_dsn() -> AsyncIterator[str]:
    """A database of the test's own, for one that reads or repairs every account in it
    (reconcile, a forced rebuild): the worker's shared one holds every other test's accounts,
    which made a six-second load take minutes and once stopped every rebuild (an account
    credited past what Lua holds exactly)."""
    async with temp_database() as dsn:
        yield dsn
