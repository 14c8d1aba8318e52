"""Redis stops answering while calls settle: the usage goes out with its `cost_micros` after
the settlement's answer budget (the priced usage under the charge cap, known once the usage
is read: issue 57, a cost that depended on the reply's timing), and the debit that reaches
the ledger once Redis is back is that cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import eventual_debits, openai_client, settle_after_outage, tenant
from tests.support.harness import Gateway, running_gateway

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


@pytest.fixture
async def cut_gw(dsn: str, redis_proxy: CuttableProxy) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, REDIS_URL=redis_proxy.redis_url) as gw:
        yield gw
        redis_proxy.restore()
        await settle_after_outage(gw)


def _extra(usage: BaseModel | None) -> dict[str, Any]:
    assert usage is not None
    return usage.model_extra or {}


async def _cut_once_forwarded(gw: Gateway, proxy: CuttableProxy) -> None:
    async with asyncio.timeout(10):
        await gw.control.wait_until(lambda c: c.hits >= 1)
    proxy.cut()


async def _debited_after_restore(gw: Gateway, proxy: CuttableProxy, account_id: str) -> int:
    proxy.restore()
    async with asyncio.timeout(20):
        rows = await eventual_debits(gw, account_id)
    return -int(rows[0]["amount_micros"])


@pytest.mark.timeout(480)
async def test_pending_plain_answer_shows_the_cost_it_debits(
    cut_gw: Gateway, redis_proxy: CuttableProxy
) -> None:
    gw = cut_gw
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage, gw.control.delay_s = USAGE, 0.3
    async with openai_client(gw, t.key) as client:
        call = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=600
        )
        answered = asyncio.ensure_future(call)
        await _cut_once_forwarded(gw, redis_proxy)
        raw = await answered
    assert "x-meterway-settlement" not in raw.headers
    assert raw.headers["x-meterway-cost-micros"] == "450"
    assert _extra(raw.parse().usage)["cost_micros"] == 450
    assert await _debited_after_restore(gw, redis_proxy, t.account_id) == 450


@pytest.mark.timeout(480)
async def test_pending_stream_usage_chunk_shows_the_cost_it_debits(
    cut_gw: Gateway, redis_proxy: CuttableProxy
) -> None:
    gw = cut_gw
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage, gw.control.chunk_delay_s = USAGE, 0.2
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            max_tokens=600,
            stream=True,
            stream_options={"include_usage": True},
        )
        redis_proxy.cut()  # forwarded, and the first chunk is on its way
        chunks = [chunk async for chunk in stream]
    last = chunks[-1]
    assert last.choices == [] and _extra(last.usage) == {"cost_micros": 450}
    assert last.usage is not None and last.usage.completion_tokens == 500
    assert await _debited_after_restore(gw, redis_proxy, t.account_id) == 450
