from __future__ import annotations

import asyncio
import faulthandler
import os
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from tests.harness import Gateway, running_gateway, temp_database

pytest_plugins = ["tests.redis_cluster"]  # the session-scoped `redis_cluster` fixture
# No run may hang for good (CI would only time out, saying nothing): past this, every
# process of the run prints every thread's stack and exits. Tests have their own timeouts.
SESSION_LIMIT_S = float(os.environ.get("MW_TEST_SESSION_LIMIT_S", 2700))


def pytest_configure(config: pytest.Config) -> None:
    """In the controller and in each xdist worker; covers what no test's timeout does
    (session teardown, interpreter exit)."""
    faulthandler.dump_traceback_later(SESSION_LIMIT_S, exit=True)


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


# The longest files first (tests/speed: the guards and the compiled build's pass, minutes
# each): with `--dist loadfile` a long file collected last would run alone at the end.
FIRST = ("tests/speed/",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))
