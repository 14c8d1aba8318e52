"""Redis connections reset while idle in the gateway's pool (an RST, as a restarted Redis or
a firewall sends) cost no request: the pool reconnects them before the next command."""

from __future__ import annotations

import asyncio

import pytest

from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import tenant
from tests.support.harness import running_gateway


@pytest.mark.timeout(480)
async def test_connections_reset_while_idle_fail_no_request(dsn: str) -> None:
    proxy = CuttableProxy("127.0.0.1", 6379)
    await proxy.start()
    try:
        async with running_gateway(dsn, REDIS_URL=proxy.redis_url) as gw:
            t = await tenant(gw)
            usage = f"/admin/v1/keys/{t.key_id}/usage"  # read from Redis
            for attempt in range(3):
                # Several connections in the pool: concurrent reads each take one.
                answers = await asyncio.gather(*(gw.admin("GET", usage) for _ in range(8)))
                assert {status for status, _ in answers} == {200}, answers
                proxy.reset()
                await asyncio.sleep(0.2)  # the RSTs arrive; the pool's connections sit idle
                for _ in range(8):
                    status, body = await gw.admin("GET", usage)
                    assert status == 200, (attempt, body)
    finally:
        await proxy.close()
