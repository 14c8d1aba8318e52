"""The settlement stream adapter against real Redis and its real scripts: parking a message
and requeueing it are single atomic moves, a parked debit stays owed for reconcile, and one
ack.lua call acknowledges and deletes a batch across shards."""

from __future__ import annotations

import asyncio

from billing.metering.usage import Usage
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.redis.repair.balances import BalanceRepair
from gateway.stores.redis.repair.restore import HotRestore
from gateway.stores.redis.stream import written_total
from gateway.stores.stream_fields import named
from tests.integration.conftest import Holder, make_holder

SETTLEMENT = Settlement("demo-gpt", "openai", Usage(input_tokens=5, output_tokens=5), 70)


async def _settle(stores: Stores, h: Holder, rid: str) -> None:
    await stores.store.reserve(
        rid, h.record, input_tokens=10, max_output_tokens=10, spend_micros=500
    )
    await stores.store.settle(h.shard, h.account_id, rid, SETTLEMENT)


async def test_park_then_requeue_moves_one_message_each_way(stores: Stores) -> None:
    h = await make_holder(stores)
    await _settle(stores, h, "rid-park")
    stream = stores.settlement_stream("test-consumer")
    await stream.ensure_groups()
    (message,) = await stream.read(10, pending=False)
    assert await stream.dead_letter(message, "ledger refused: test") is True
    assert await stream.dead_letter(message, "again") is False  # no longer pending
    assert (await stream.backlog()).length == 0
    (letter,) = await stream.dead_letters()
    assert (letter.request_id, letter.account_id, letter.message_id, letter.reason) == (
        "rid-park",
        h.account_id,
        message.message_id,
        "ledger refused: test",
    )
    # The message as it was (shown as named fields), the reason kept apart.
    assert letter.fields == named(message.fields)
    assert await stores.store.dead_letter_count() == 1

    fix = BalanceRepair(stores.store)
    parked = await fix.position(h.account_id)
    assert parked is not None and parked.queued == {("rid-park", "debit"): 70}
    assert await HotRestore(stores.store).queued_costs() == {h.account_id: 70}

    assert await stream.requeue([letter.entry_id]) == 1
    assert await stream.dead_letter_count() == 0
    (again,) = await stream.read(10, pending=False)
    assert again.fields == message.fields and again.message_id != message.message_id
    moved = await fix.position(h.account_id)
    assert moved is not None and moved.seq == parked.seq + 1  # a fenced repair reads again
    assert not await fix.repair(parked, 70, [])


async def test_idle_consumers_with_nothing_pending_are_forgotten(stores: Stores) -> None:
    h = await make_holder(stores)
    gone, holder = stores.settlement_stream("gone"), stores.settlement_stream("holder")
    await gone.ensure_groups()
    await _settle(stores, h, "rid-done")
    done = await gone.read(10, pending=False)
    await gone.ack(done, 0)  # "gone" now has a name in the group and nothing pending
    await _settle(stores, h, "rid-held")
    (held,) = await holder.read(10, pending=False)
    await asyncio.sleep(0.01)
    assert await stores.settlement_stream("other").forget_idle_consumers(idle_ms=1) == 1
    assert [m.message_id for m in await holder.read(10, pending=True)] == [held.message_id]
    assert await holder.forget_idle_consumers(idle_ms=1) == 0  # "holder" keeps its message


async def test_an_ack_acknowledges_and_deletes_every_shards_messages_and_counts_the_rows(
    stores: Stores,
) -> None:
    holders = [await make_holder(stores) for _ in range(3)]
    for i, h in enumerate(holders):
        for n in range(2):
            await _settle(stores, h, f"rid-ack-{i}-{n}")
    stream = stores.settlement_stream("acker")
    await stream.ensure_groups()
    messages = await stream.read(10, pending=False)
    assert len(messages) == 6
    counted = await written_total(stores.redis, stores.store.keys)
    await stream.ack(messages, 6)
    assert await stream.read(10, pending=True) == []  # nothing left pending for us
    assert (await stream.backlog()).length == 0  # and the messages are gone
    assert await written_total(stores.redis, stores.store.keys) == counted + 6


async def test_an_ack_of_more_ids_than_lua_unpacks_at_once(stores: Stores) -> None:
    keys, shard = stores.store.keys, 5
    stream = stores.settlement_stream("acker")
    await stream.ensure_groups()
    async with stores.redis.pipeline(transaction=False) as pipe:
        for n in range(2_345):
            pipe.xadd(keys.stream(shard), {"rid": f"r{n}"})
        await pipe.execute()
    messages = await stream.read(3_000, pending=False)
    assert len(messages) == 2_345
    await stream.ack(messages, 0)
    assert await stream.read(3_000, pending=True) == []
    assert await stores.redis.xlen(keys.stream(shard)) == 0
