"""Redis loses everything, with the gateway's own restore turned off (SELF_RESTORE=0):
billable traffic is refused until `rebuild`, then balances and quota windows equal what the
ledger says. (Automatic restore: test_self_restore.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from gateway.http.appkeys import PLANS
from gateway.ops.rebuild import rebuild, reconcile
from gateway.stores.redis.keys import shard_of
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway, drop_keys, running_gateway, temp_database
from tests.support.invariants import check_invariants
from tests.support.replies import present

HOUR_REQUESTS = [{"window": "hour", "metric": "requests", "limit": 1000}]


async def _counters(gw: Gateway, shard: int, owner: str, key_id: str) -> dict[str, object]:
    out: dict[str, object] = {}
    prefix = gw.store.keys.counters(shard)
    async for raw in gw.store.redis.scan_iter(match=prefix + "*"):
        name = raw.decode()
        if owner not in name and key_id not in name:
            continue  # the shared test database holds other tests' accounts too
        if await gw.store.redis.type(name) == b"hash":
            out[name] = sum(int(v) for v in (await gw.store.redis.hgetall(name)).values())
        else:
            out[name] = int(present(await gw.store.redis.get(name)))
    return out


async def _chat(gw: Gateway, key: str) -> None:
    async with openai_client(gw, key) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )


@pytest.fixture
async def gw() -> AsyncIterator[Gateway]:
    """A database of its own: `rebuild` restores every account the database holds, and the
    worker's shared one holds whatever the tests before it left (its time is theirs)."""
    async with temp_database() as dsn, running_gateway(dsn, SELF_RESTORE="0") as gateway:
        yield gateway
        await gateway.settle_all()


@pytest.mark.timeout(480)
async def test_flushed_redis_refuses_until_rebuild(gw: Gateway) -> None:
    t = await tenant(gw, credit=2_000_000, quotas=HOUR_REQUESTS)
    for _ in range(5):
        await _chat(gw, t.key)
    await gw.settle_all()
    before = await _counters(gw, shard_of(t.account_id), t.account_id, t.key_id)
    assert any(":k:" in k for k in before) and any(":a:" in k for k in before)

    await drop_keys(gw.settings)  # every master's keys, on a Redis Cluster
    with pytest.raises(openai.APIStatusError) as caught:
        await _chat(gw, t.key)
    assert caught.value.status_code == 503

    result = await rebuild(gw.stores(), gw.app[PLANS])
    assert result["window_counters"] > 0
    after = await _counters(gw, shard_of(t.account_id), t.account_id, t.key_id)
    assert {k: v for k, v in after.items() if v} == {k: v for k, v in before.items() if v}
    assert await reconcile(gw.stores(), rechecks=0) == []
    await _chat(gw, t.key)
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])
