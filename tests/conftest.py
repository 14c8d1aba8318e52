from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import Gateway, running_gateway, temp_database


@pytest.fixture(scope="session")
async def dsn() -> AsyncIterator[str]:
    async with temp_database() as name:
        yield name


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway
