from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from tests.harness import Gateway, running_gateway, temp_database

pytest_plugins = ["tests.redis_cluster"]  # the session-scoped `redis_cluster` fixture


@pytest.fixture(scope="session")
async def dsn() -> AsyncIterator[str]:
    async with temp_database() as name:
        yield name


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
        # Nothing left queued: shutdown then has no settlement of this test to drain.
        await gateway.settle_all()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests run on uvloop, like `meterway serve` does."""
    return {"uvloop": uvloop.new_event_loop}
