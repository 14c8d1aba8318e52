from __future__ import annotations

import ast
import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import uvloop

from tests.support.harness import Gateway, running_gateway, temp_database

# The session-scoped `redis_cluster` fixture; the session's limit and what a run is doing,
# said while it runs; the slowest files and the lanes against tests/budget.toml, at its end.
pytest_plugins = [
    "tests.support.redis_cluster",
    "tests.support.run_watch",
    "tests.support.budget",
]


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
# each): with `--dist loadfile` a long file collected last would run alone at the end. xdist
# 3.7+ would otherwise send the files with the most tests first (pyproject's addopts:
# --no-loadscope-reorder), which put the compiled build's 15 minutes at the run's end.
FIRST = ("tests/speed/",)


# The fast lane (`pytest -m fast`, README): the tiers that need only Python, PostgreSQL and
# Redis and take minutes: the pure tests and the store tests. A test there that needs more
# (a browser, Node, valgrind, a C compiler) is marked for it and leaves the lane.
FAST_TIERS = ("tests/unit/", "tests/integration/")
NOT_FAST = ("browser", "node", "speed", "compiled", "install")
# What a test module imports says what it needs (tests/speed and the install test say it
# with `pytestmark`).
NEEDS_BY_IMPORT = {
    "browser": ("playwright", "tests.support.browser_kit"),
    "node": ("tests.support.agents_kit", "tests.support.fakes.oidc_idp"),
}


@functools.cache
def _imports(path: str) -> frozenset[str]:
    tree = ast.parse(Path(path).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return frozenset(names)


def _needs(item: pytest.Item) -> list[str]:
    imported = _imports(str(item.path))
    return [
        need
        for need, modules in NEEDS_BY_IMPORT.items()
        if any(name == m or name.startswith(m + ".") for name in imported for m in modules)
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))
    for item in items:
        for need in _needs(item):
            item.add_marker(need)
        needs_more = any(item.get_closest_marker(name) for name in NOT_FAST)
        if item.nodeid.startswith(FAST_TIERS) and not needs_more:
            item.add_marker(pytest.mark.fast)
