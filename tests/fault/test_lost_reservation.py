"""Redis loses a call's reservation while the provider answers (a restart without its data,
a failover before replication): nothing can be debited against it any more, so the client
is shown no cost, and the loss is logged and counted instead of being taken for a
settlement that already happened. README, Durability, says what such a loss still costs."""

from __future__ import annotations

import asyncio
import re

from gateway.stores.redis.keys import shard_of
from tests.factories import balance, ledger, tenant
from tests.harness import ADMIN_KEY, Gateway

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}
VANISHED = re.compile(r"^meterway_settlements_vanished_total (\S+)$", re.M)
SPENT = re.compile(r'^meterway_spend_micros_total\{model="gpt-4o-mini"\} (\S+)$', re.M)


async def _metric(gw: Gateway, pattern: re.Pattern[str]) -> float:
    async with gw.http.get(
        gw.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        found = pattern.search(await r.text())
    return float(found.group(1)) if found else 0.0


async def _vanished(gw: Gateway) -> float:
    return await _metric(gw, VANISHED)


async def test_a_call_whose_reservation_redis_lost_shows_no_cost_and_is_counted(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=5_000_000)
    before, spent = await _vanished(gw), await _metric(gw, SPENT)
    gw.control.delay_s = 0.5
    headers = {"Authorization": f"Bearer {t.key}"}

    async def call() -> tuple[int, dict[str, str]]:
        async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY, headers=headers) as r:
            await r.read()
            return r.status, {k.lower(): v for k, v in r.headers.items()}

    answered = asyncio.create_task(call())
    async with asyncio.timeout(10):  # forwarded: its reservation is held in Redis
        await gw.control.wait_until(lambda c: c.hits >= 1)
    reservations = gw.store.keys.reservations(shard_of(t.account_id))
    (request_id,) = await gw.store.redis.hkeys(reservations)
    assert await gw.store.redis.hdel(reservations, request_id) == 1
    status, answer = await answered

    assert status == 200 and answer["x-request-id"] == request_id.decode()
    assert "x-meterway-cost-micros" not in answer, "a cost shown that was not debited"
    assert await _vanished(gw) == before + 1
    assert await _metric(gw, SPENT) == spent, "spend counted that was never debited"
    await gw.settle_all()
    assert [r["kind"] for r in await ledger(gw, t.account_id)] == ["credit"]
    assert await balance(gw, t.account_id) == 5_000_000


async def test_a_settled_call_is_not_counted_as_lost(gw: Gateway) -> None:
    t = await tenant(gw)
    before, spent = await _vanished(gw), await _metric(gw, SPENT)
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY, headers=headers) as r:
        cost = int(r.headers["x-meterway-cost-micros"])
        assert r.status == 200 and cost > 0
    assert await _vanished(gw) == before
    assert await _metric(gw, SPENT) == spent + cost
