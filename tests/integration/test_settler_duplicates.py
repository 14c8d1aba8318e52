"""The same settlement delivered three times, shuffled, to concurrent settlers: the ledger
is written once, and a replay after the first write changes nothing (tags and the per-tag
rollups included)."""

from __future__ import annotations

import asyncio
import random
import secrets

from gateway.stores.redis.stream import text_of
from gateway.workers.settler import Settler
from tests.fault.procs import fault_stores, make_tenant, settle_directly
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants
from tests.support.replies import entries

NOWHERE = "http://127.0.0.1:9"


async def test_triple_delivery_to_concurrent_settlers_writes_once(dsn: str) -> None:
    env = gateway_env(dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (_, stores):
        tenants = [await make_tenant(stores, 1_000_000) for _ in range(4)]
        ids = [t.account_id for t in tenants]
        await stores.pool.execute(
            'UPDATE api_keys SET tags = \'{"cost_center": "cc-1"}\' WHERE account_id = ANY($1)',
            ids,
        )
        costs: dict[str, int] = {}
        for t in tenants:
            costs |= await settle_directly(stores, t, 50)
        keys = stores.store.keys
        copies: list[tuple[int, dict[str, str]]] = []
        for shard in {t.record.shard for t in tenants}:
            for _id, fields in entries(await stores.redis.xrange(keys.stream(shard))):
                copies.append((shard, {text_of(k): text_of(v) for k, v in fields.items()}))
        await Settler(stores.settlement_stream(), stores.ledger).drain()
        before = await stores.pool.fetch("SELECT * FROM ledger_entries ORDER BY id")

        replay = copies * 3
        random.Random(7).shuffle(replay)
        for shard, copy in replay:
            await stores.redis.xadd(keys.stream(shard), copy)  # type: ignore[arg-type]
        settlers = [Settler(stores.settlement_stream(), stores.ledger, batch=64) for _ in range(4)]
        await asyncio.gather(*(s.drain() for s in settlers))

        assert sum(s.written for s in settlers) == 0
        after = await stores.pool.fetch("SELECT * FROM ledger_entries ORDER BY id")
        assert after == before
        report = await check_invariants(stores, [t.account_id for t in tenants], costs)
        assert report.debits == len(costs) == 200
        assert report.costed_without_debit == 0
        tagged = await stores.pool.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE account_id = ANY($1)"
            ' AND tags = \'{"cost_center": "cc-1"}\'',
            ids,
        )
        by_tag = await stores.pool.fetchval(
            "SELECT sum(requests) FROM usage_tag_rollups WHERE account_id = ANY($1)"
            " AND tag_name = 'cost_center' AND tag_value = 'cc-1'",
            ids,
        )
        assert tagged == by_tag == 200
