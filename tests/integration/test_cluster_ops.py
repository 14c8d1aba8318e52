"""The operator's tools on a real Redis Cluster: a parked settlement is counted once across the
stream and dead-letter reads, `reconcile --repair` corrects a drifted balance by its fenced
delta, and `rebuild --force` restores a live cluster without losing an open hold."""

from __future__ import annotations

from billing.metering.usage import Usage
from billing.money.plans import load_plans
from gateway.config.settings import DEFAULT_CONFIG_DIR
from gateway.ops.rebuild import rebuild
from gateway.ops.reconcile import parked, reconcile
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.stream_fields import named
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder

NOWHERE = "http://127.0.0.1:9"
COST = 70
SETTLEMENT = Settlement("demo-gpt", "openai", Usage(input_tokens=5, output_tokens=5), COST)


async def test_parked_and_repaired_and_rebuilt_on_a_cluster(cluster_stores: Stores) -> None:
    stores = cluster_stores
    holders = [await make_holder(stores) for _ in range(4)]  # over several masters
    for n, h in enumerate(holders):
        for i in range(3):
            rid = f"r{n}-{i}"
            await stores.store.reserve(
                rid, h.record, input_tokens=10, max_output_tokens=10, spend_micros=500
            )
            await stores.store.settle(h.shard, h.account_id, rid, SETTLEMENT)
    stream = stores.settlement_stream("ops-test")
    await stream.ensure_groups()
    read = await stream.read(10, pending=False)
    first = next(m for m in read if named(m.fields)[b"rid"] == b"r0-0")
    assert await stream.dead_letter(first, "ledger refused: test")
    await Settler(stores.settlement_stream(), stores.ledger).drain()

    dead = await parked(stores)
    assert (dead.count, dead.owed) == (1, {holders[0].account_id: COST})
    assert await reconcile(stores) == []  # the parked debit counts as owed, not as drift

    victim = holders[1]
    await stores.redis.hincrby(
        stores.store.keys.account(victim.shard, victim.account_id), "bal", 999
    )
    (drift,) = await reconcile(stores, repair=True, pause_s=0.01)
    assert (drift.account_id, drift.repaired) == (victim.account_id, True)
    assert await reconcile(stores) == []

    await stores.store.reserve(
        "open", holders[2].record, input_tokens=10, max_output_tokens=10, spend_micros=500
    )
    held_before = await stores.store.balance(holders[2].account_id)
    counts = await rebuild(stores, load_plans(DEFAULT_CONFIG_DIR / "plans.toml"), force=True)
    assert counts["accounts"] >= 4
    assert await stores.store.balance(holders[2].account_id) == held_before  # hold kept
    assert await stream.requeue() == 1
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert (await parked(stores)).count == 0
    await stores.store.release(holders[2].shard, holders[2].account_id, "open")
    assert await reconcile(stores) == []
    for h in holders:
        total = (await stores.operator().totals([h.account_id]))[h.account_id]
        assert await stores.store.balance(h.account_id) == (total, 0)
