"""A lease's calls on a bad day, against the real scripts in a real Redis: every micro lands
once whether the process dies holding the lease, retries an append, stops during a top-up,
loses the lease to a Redis without its data or to a sweeper, or appends after it closed."""

from __future__ import annotations

import pytest

from billing.money.leases import MIN_UNITS
from gateway.stores.connect import Stores
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.ports.hot import CLOSED
from gateway.stores.records import Settlement
from gateway.stores.redis.hotstore import DEBITED_LATE
from gateway.workers.sweeper import sweep_once
from tests.integration import leasing
from tests.integration.conftest import make_holder


async def test_a_process_that_dies_holding_a_lease_leaves_nothing_lost_or_twice(
    stores: Stores,
) -> None:
    """What a dead process appended is debited once by the sweeper's close; the rest of its
    lease is given back; a second sweep finds nothing."""
    store, h, rids = await leasing.busy(stores, 12)
    await leasing.settle_all(store, h, rids[:9], 250)  # three were in flight when it died
    for name in await leasing.leases_in_redis(stores, h.shard):
        await store.redis.zadd(store.keys.deadlines(h.shard), {name: 0})
    assert await sweep_once(leasing.another_process(stores)) >= 1
    assert await store.balance(h.account_id) == (1_000_000 - 9 * 250, 0)
    assert sorted(r[0] for r in await leasing.stream_rows(stores, h.shard)) == sorted(rids[:9])
    assert await sweep_once(leasing.another_process(stores)) == 0


async def test_a_retried_append_is_debited_once(stores: Stores) -> None:
    store, h, rids = await leasing.busy(stores, 8)
    lease, i, o, held, _ = store.leases._requests["r7"]
    store.leases._requests["r7"] = (lease, i, o, held, True)  # its first append was cut off
    await leasing.settle_all(store, h, rids, 100)  # r7 first appended by the retry script
    await store.leases.keep()
    # A retry after the apply finds it applied, and appends nothing.
    store.leases._requests["r7"] = (lease, i, o, held, True)
    lease.in_flight += 1
    assert (
        await store.settle(h.shard, h.account_id, "r7", Settlement("m", "p", leasing.USAGE, 100))
        == 1
    )
    await store.leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - 8 * 100, 0)
    assert sorted(r[0] for r in await leasing.stream_rows(stores, h.shard)) == sorted(rids)


async def test_a_retry_after_the_lease_closed_without_it_is_told_closed(stores: Stores) -> None:
    """Its lease was closed (by the sweeper) before the append reached Redis: the settlement
    is told CLOSED, which services/money/settlement.py debits late as a lost reservation."""
    store = leasing.leases_on(stores)
    h = await make_holder(stores, credit=1_000_000)
    for n in range(6):
        await leasing.admit(store, h, f"r{n}")
    lease, i, o, held, _ = store.leases._requests["r5"]
    assert await store.leases.close_expired(h.shard, lease.id)  # as a sweeper would
    store.leases._requests["r5"] = (lease, i, o, held, True)
    done = await store.settle(h.shard, h.account_id, "r5", Settlement("m", "p", leasing.USAGE, 100))
    assert done == CLOSED
    # Nothing debited; held: only the three calls made before the key was busy.
    assert await store.balance(h.account_id) == (1_000_000, 3 * 1_000)


async def test_debits_appended_under_a_lease_redis_lost_are_handed_on(stores: Stores) -> None:
    """Redis lost the lease (a restart without its data) before applying what was appended:
    each debit is handed to `on_lost` (services/money/settlement.py debits it late), and the
    orphaned stream is dropped so nothing can apply it twice."""
    store = leasing.leases_on(stores)
    lost: list[str] = []
    store.leases.on_lost = lambda rid, *_: lost.append(rid)
    h = await make_holder(stores, credit=1_000_000)
    rids = [f"r{n}" for n in range(8)]
    for rid in rids:
        await leasing.admit(store, h, rid)
    await leasing.settle_all(store, h, rids, 100)
    (lease_id,) = await leasing.leases_in_redis(stores, h.shard)
    await store.redis.hdel(store.keys.reservations(h.shard), lease_id)
    await store.leases.keep()
    assert sorted(lost) == sorted(rids[MIN_UNITS - 1 :])  # the first three were not leased
    assert not await store.redis.exists(store.keys.lease_stream(h.shard, lease_id))


async def test_a_refused_call_whose_append_fails_still_lets_its_lease_close(
    stores: Stores,
) -> None:
    """The provider refused a forwarded call and Redis refused the refusal's append: the
    call is no longer in flight, so its lease still closes and gives back all it holds (the
    release's retry finds nothing held per request)."""
    store, h, rids = await leasing.busy(stores, 6)
    for rid in rids[:-1]:
        await store.settle(h.shard, h.account_id, rid, Settlement("m", "p", leasing.USAGE, 400))
    await store.leases.keep()  # the appends applied
    lease = store.leases._requests[rids[-1]][0]
    aside = lease.stream + ":aside"
    await store.redis.rename(lease.stream, aside)
    await store.redis.set(lease.stream, "not a stream")  # XADD answers WRONGTYPE
    with pytest.raises(HotStoreUnavailable):
        await store.release(h.shard, h.account_id, rids[-1], keep_request=True)
    assert not store.leases.owns(rids[-1])
    assert not await store.release(h.shard, h.account_id, rids[-1], keep_request=True)
    await store.redis.delete(lease.stream)
    await store.redis.rename(aside, lease.stream)
    store.leases.retire_all()
    await store.leases.keep()
    assert await store.balance(h.account_id) == (1_000_000 - 5 * 400, 0)
    assert await leasing.leases_in_redis(stores, h.shard) == []


async def test_a_stop_during_a_top_up_gives_back_the_lease_it_brings(stores: Stores) -> None:
    """A lease running low asks for the next one in the background; a stop that comes while
    that grant is on its way closes the new lease too, not only the ones it knew of."""
    store, h, rids = await leasing.busy(stores, 10)  # 3 one by one, then a lease of 8 runs low
    assert store.leases._tasks, "a top-up is on its way"
    await store.leases.close_all()
    await leasing.settle_all(store, h, rids[:3], 100)
    assert await leasing.leases_in_redis(stores, h.shard) == []
    assert await store.balance(h.account_id) == (1_000_000 - 3 * 100, 0)


async def test_a_call_whose_lease_was_closed_under_it_is_debited_late(stores: Stores) -> None:
    """A stop (or a sweeper) closed the lease while a call of it was served: its settle
    debits it from what is free, once, as a debit after a void is."""
    store, h, rids = await leasing.busy(stores, 6)
    await store.leases.close_all()
    last = rids[-1]
    done = await store.settle(h.shard, h.account_id, last, Settlement("m", "p", leasing.USAGE, 700))
    assert done == DEBITED_LATE
    again = await store.settle(
        h.shard, h.account_id, last, Settlement("m", "p", leasing.USAGE, 700)
    )
    assert again == CLOSED
    assert await store.balance(h.account_id) == (1_000_000 - 700, 3 * 1_000)
    assert [r[0] for r in await leasing.stream_rows(stores, h.shard)] == [last]


async def test_a_call_appended_after_a_sweeper_closed_its_lease_is_debited_late_once(
    stores: Stores,
) -> None:
    """The process was cut off past its lease's deadline and a sweeper closed the lease;
    the process does not know yet, serves a call of it, and appends: nothing is added (the
    close dropped the stream), and the call is debited from what is free, once."""
    store, h, rids = await leasing.busy(stores, 6)
    lease = store.leases._requests[rids[-1]][0]
    assert await sweep_close(stores, h.shard, lease.id)
    done = await store.settle(
        h.shard, h.account_id, rids[-1], Settlement("m", "p", leasing.USAGE, 900)
    )
    assert done == DEBITED_LATE
    await store.leases.keep()  # the process finds its lease gone: nothing else to settle
    assert await store.balance(h.account_id) == (1_000_000 - 900, 3 * 1_000)
    assert [r[0] for r in await leasing.stream_rows(stores, h.shard)] == [rids[-1]]
    assert not await store.redis.exists(store.keys.lease_stream(h.shard, lease.id))


async def sweep_close(stores: Stores, shard: int, lease_id: str) -> bool:
    """Another process's sweeper closing the lease at its deadline."""
    return await leasing.another_process(stores).leases.close_expired(shard, lease_id)
