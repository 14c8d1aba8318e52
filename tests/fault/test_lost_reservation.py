"""Redis loses a call's reservation while the provider answers (a restart without its data,
a failover before replication): the loss is logged and counted, and the delivered usage is
still debited, late, from what the account has free (the rest uncollected), so the cost the
client is shown is the one debited. Before (issue 57), such a call was shown no cost and
never debited. README, Durability, says what such a loss still costs."""

from __future__ import annotations

import asyncio
import re

from gateway.stores.redis.keys import shard_of
from tests.support.factories import balance, ledger, tenant
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.replies import present

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


async def test_a_call_whose_reservation_redis_lost_is_debited_what_it_shows_and_counted(
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

    assert status == 200 and answer["x-request-id"] == present(request_id).decode()
    cost = int(answer["x-meterway-cost-micros"])
    assert cost > 0
    assert await _vanished(gw) == before + 1
    assert await _metric(gw, SPENT) == spent + cost
    await gw.settle_all()
    rows = [(r["kind"], r["amount_micros"]) for r in await ledger(gw, t.account_id)]
    assert [r for r in rows if r[0] != "credit"] == [("debit", -cost)]
    assert await balance(gw, t.account_id) == 5_000_000 - cost


async def test_a_settled_call_is_not_counted_as_lost(gw: Gateway) -> None:
    t = await tenant(gw)
    before, spent = await _vanished(gw), await _metric(gw, SPENT)
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY, headers=headers) as r:
        cost = int(r.headers["x-meterway-cost-micros"])
        assert r.status == 200 and cost > 0
    assert await _vanished(gw) == before
    assert await _metric(gw, SPENT) == spent + cost
