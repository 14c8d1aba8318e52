"""/readyz answers within its bound whatever a store does (issue 82: with PostgreSQL
blackholed it took 28-29 s, so a load balancer's probe timed out instead of reading "not
ready"). Each check runs at once beside the others, bounded by READYZ_CHECK_TIMEOUT_S, and
the answer names the store that is away."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fault.tcp_proxy import CuttableProxy
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

CHECK_S = 1.0  # READYZ_CHECK_TIMEOUT_S of the gateway here
BOUND_S = CHECK_S + 1.0  # the answer's bound, with a loaded machine's slack


@pytest.fixture
async def gw(dsn: str, pg_proxy: CuttableProxy) -> AsyncIterator[Gateway]:
    async with running_gateway(pg_proxy.dsn(dsn), READYZ_CHECK_TIMEOUT_S=str(CHECK_S)) as gw:
        try:
            yield gw
        finally:
            pg_proxy.restore()


async def _readyz(gw: Gateway) -> tuple[int, Any, float]:
    asked = time.monotonic()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(gw.url + "/readyz", headers=headers) as r:
        return r.status, await r.json(), time.monotonic() - asked


async def test_readyz_answers_within_its_bound_naming_a_blackholed_postgres(
    gw: Gateway, pg_proxy: CuttableProxy
) -> None:
    status, body, _ = await _readyz(gw)
    assert status == 200, body
    pg_proxy.blackhole()
    for _ in range(3):  # every probe, not only the first
        status, body, took = await _readyz(gw)
        assert took < BOUND_S, f"/readyz took {took:.1f} s"
        assert status == 503 and body["postgres"] is False and body["redis"] is True, body
        assert body["stores_away"] == ["postgres"], body
        assert "PostgreSQL" in body["error"], body
    pg_proxy.restore()
