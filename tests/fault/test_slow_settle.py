"""Redis slow to answer the settle (issue 57): the streamed cost is in the final event every
time. `test_beta_stream_passes_and_carries_its_debit` once lost `cost_micros` on a busy
machine: the cost came from settle.lua's answer, awaited for 1.5 s. Here every Redis reply is
held 2.5 s once the provider was called, deterministically past that budget: the final
`message_delta` still carries the cost, and the ledger's debit is that cost.

The answer waits for the settle's command to be sent, not for its reply (issue 61): with
the replies held, a plain call answers at once, and Redis had the debit before the answer
reached the client (read on a connection of its own, not through the slow proxy)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.stores.ports.hot import shard_of
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway, running_gateway

MODEL = "claude-haiku-4-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Think, then answer."}]
USAGE = {"input_tokens": 1000, "output_tokens": 500}
COST = 3_500  # claude-haiku-4-5: 1000 x $1.00/M + 500 x $5.00/M
SLOW_S = 2.5  # every Redis reply, once the call was forwarded: past the 1.5 s answer budget


@pytest.fixture
async def slow_gw(dsn: str, redis_proxy: CuttableProxy) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, REDIS_URL=redis_proxy.redis_url) as gw:
        yield gw
        redis_proxy.reply_delay_s = 0.0
        await gw.settle_all()


async def _slowed_once_forwarded(gw: Gateway, proxy: CuttableProxy) -> None:
    """Every Redis reply held from the moment the call reached the provider: it is reserved,
    and its settle is still to come."""
    async with asyncio.timeout(10):
        await gw.control.wait_until(lambda c: c.hits >= 1)
    proxy.reply_delay_s = SLOW_S


@pytest.mark.timeout(480)
async def test_a_slow_settle_still_puts_the_cost_in_the_final_event(
    slow_gw: Gateway, redis_proxy: CuttableProxy
) -> None:
    gw = slow_gw
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage, gw.control.delay_s = USAGE, 0.5

    async def stream() -> list[Any]:
        client = anthropic_client(gw, t.key)
        async with (
            client,
            client.messages.stream(model=MODEL, max_tokens=600, messages=MESSAGES) as s,
        ):
            return [event async for event in s]

    answered = asyncio.ensure_future(stream())
    await _slowed_once_forwarded(gw, redis_proxy)
    events = await answered
    (delta,) = [e for e in events if e.type == "message_delta"]
    assert (delta.usage.model_extra or {}).get("cost_micros") == COST
    redis_proxy.reply_delay_s = 0.0
    await gw.settle_all()
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [COST]


@pytest.mark.timeout(480)
async def test_the_answer_waits_for_the_settle_to_be_sent_not_for_its_reply(
    slow_gw: Gateway, redis_proxy: CuttableProxy
) -> None:
    gw = slow_gw
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    gw.control.delay_s = 0.5
    direct = aioredis.Redis(host=redis_proxy.target[0], port=redis_proxy.target[1])
    account = gw.store.keys.account(shard_of(t.account_id), t.account_id)
    before = int(await direct.hget(account, "bal") or 0)

    async def call() -> Any:
        async with openai_client(gw, t.key) as client:
            chat = client.chat.completions.with_raw_response
            return await chat.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )

    answered = asyncio.ensure_future(call())
    await _slowed_once_forwarded(gw, redis_proxy)
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    raw = await answered
    took = loop.time() - asked_at
    after = int(await direct.hget(account, "bal") or 0)  # before the held reply came back
    await direct.aclose()
    cost = int(raw.headers["x-meterway-cost-micros"])
    # The provider's 0.5 s, and no settle reply (2.5 s away), nor the 1.5 s answer budget.
    assert took < 1.4, took
    assert cost > 0 and before - after == cost, (before, after, cost)
    redis_proxy.reply_delay_s = 0.0
    await gw.settle_all()
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [cost]
