"""PostgreSQL unreachable under load: serving continues from Redis, the settlement stream
backs up, and it drains completely once PostgreSQL is back."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}  # /metrics and /readyz details


async def _load(gw: Gateway, key: str, n: int, costs: dict[str, int]) -> None:
    """n concurrent calls, half streamed; records the cost the client was told."""
    async with openai_client(gw, key) as client:

        async def one(i: int) -> None:
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=50,
                stream=i % 2 == 0,
            )
            if i % 2 == 0:
                stream = raw.parse()
                assert isinstance(stream, openai.AsyncStream)
                async for _ in stream:
                    pass
            else:
                costs[raw.headers["x-request-id"]] = int(raw.headers["x-meterway-cost-micros"])

        await asyncio.gather(*(one(i) for i in range(n)))


@pytest.mark.timeout(480)
@pytest.mark.parametrize("fault", ["cut", "half_open"])
async def test_postgres_outage_backs_up_then_drains(
    dsn: str, fault: str, pg_proxy: CuttableProxy
) -> None:
    """`cut`: every connection dropped, new ones refused. `half_open`: PostgreSQL's side of
    every connection gone, the gateway's kept open and silent for good (a peer that went
    away without a word reaching the gateway): only the gateway's own timeouts free it."""
    costs: dict[str, int] = {}
    # Every worker's statements on a silent connection fail within 5 s (the settler's
    # batch has its own 25 s deadline, whatever this says).
    async with running_gateway(pg_proxy.dsn(dsn), POSTGRES_COMMAND_TIMEOUT_S="5") as gw:
        t = await tenant(gw, credit=50_000_000)
        await _load(gw, t.key, 20, costs)
        getattr(pg_proxy, fault)()
        for _ in range(3):
            await _load(gw, t.key, 20, costs)
        await asyncio.sleep(0.3)
        assert await gw.backlog_length() > 0
        async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
            status, ready = r.status, await r.json()
        assert status == 503 and ready["postgres"] is False
        assert ready["settlement_backlog"] > 0
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            text = await r.text()
        assert f"meterway_settlement_backlog {ready['settlement_backlog']}" in text or (
            "meterway_settlement_lag_seconds" in text
        )
        pg_proxy.restore()
        for _ in range(400):  # the settler drains it: at once, or past its write timeout
            if not await gw.backlog_length():
                break
            await asyncio.sleep(0.2)
        assert await gw.backlog_length() == 0
        await gw.settle_all()
        report = await check_invariants(gw.stores(), [t.account_id], costs)
        assert report.debits == 80 and report.costed_without_debit == 0
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            assert "meterway_settlement_backlog 0\n" in await r.text()
