"""Leases against the real scripts in a real Redis: a busy key's calls are admitted under a
slice held like a reservation, settled by appends, and every micro lands once, whether the
process lets its lease go, dies holding it, or retries an append."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from billing.admission import Admitted, KeyRefused, QuotaRefused
from billing.leases import GRANULE_MS, MAX_LIFE_MS, MIN_UNITS
from billing.quotas import parse_quota
from billing.usage import Usage
from gateway.background import LEASE_KEEP_S
from gateway.stores.connect import Stores
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.ports.hot import CLOSED
from gateway.stores.records import Settlement
from gateway.stores.redis import leases as leases_module
from gateway.stores.redis.hotstore import DEBITED, DEBITED_LATE, HotStore
from gateway.stores.redis.leases import APPLY_AT
from gateway.workers.sweeper import sweep_once
from tests.integration.conftest import Holder, make_holder
from tests.support.harness import advance_test_clock

USAGE = Usage(input_tokens=40, cached_input_tokens=10, output_tokens=7, reasoning_tokens=2)


def _on(stores: Stores) -> HotStore:
    store = stores.store
    store.leases.enabled = True
    store.leases.rate_ms = _still
    return store


def _process(stores: Stores) -> HotStore:
    """Another gateway process on the same Redis: its own leases."""
    s = stores.store
    other = HotStore(s.redis, s.keys, reservation_ttl_s=660, leases=True)
    other.leases.rate_ms = _still
    return other


async def _at_a_granules_start(stores: Stores) -> None:
    """Redis's clock (the test clock) moved to just after a granule's start. A lease ends at
    its granule's edge: wherever that edge fell in a test, a lease it counts on would end
    there and another be granted; now each lease the test is granted lasts MAX_LIFE_MS."""
    seconds, micros = await stores.store.redis.time()
    ahead = GRANULE_MS - (seconds * 1000 + micros // 1000) % GRANULE_MS  # the offset is 0
    await advance_test_clock(stores.store, ahead)


def _still(loop_now: float) -> int:
    """Every call of a test in one rate horizon: its key is busy from its MIN_UNITS-th call,
    however slowly a loaded machine serves the calls (or where a horizon's edge falls)."""
    return 0


async def _admit(store: HotStore, h: Holder, rid: str, spend: int = 1_000) -> Admitted:
    decision = await store.reserve(
        rid, h.record, input_tokens=50, max_output_tokens=20, spend_micros=spend
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def _busy(
    stores: Stores, calls: int, credit: int = 1_000_000
) -> tuple[HotStore, Holder, list[str]]:
    """Leases on, an account with `credit`, and `calls` admitted calls of one key."""
    store = _on(stores)
    h = await make_holder(stores, credit=credit)
    rids = [f"r{n}" for n in range(calls)]
    for rid in rids:
        await _admit(store, h, rid)
    return store, h, rids


async def _rows(stores: Stores, shard: int) -> list[list[str]]:
    raw: Any = await stores.store.redis.xrange(stores.store.keys.stream(shard))
    return [orjson.loads(fields[b"row"]) for _, fields in raw]


async def _leases_in_redis(stores: Stores, shard: int) -> list[str]:
    names: Any = await stores.store.redis.hkeys(stores.store.keys.reservations(shard))
    return [n.decode() for n in names if n.startswith(b"lse_")]


async def _settle_all(store: HotStore, h: Holder, rids: Sequence[str], cost: int) -> None:
    for rid in rids:
        done = await store.settle(h.shard, h.account_id, rid, Settlement("m", "p", USAGE, cost))
        assert done == DEBITED


async def test_a_busy_key_is_leased_and_every_call_is_debited_once(stores: Stores) -> None:
    store, h, rids = await _busy(stores, 20)
    assert len(await _leases_in_redis(stores, h.shard)) >= 1
    bal, held = await store.balance(h.account_id) or (0, 0)
    assert bal == 1_000_000 and held >= 20 * 1_000  # the leases hold at least the calls' worst
    await _settle_all(store, h, rids, 300)
    await store.leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - 20 * 300, 0)
    rows = await _rows(stores, h.shard)
    assert sorted(r[0] for r in rows) == sorted(rids)
    assert {(r[1], r[4]) for r in rows} == {("debit", "300")}
    assert await _leases_in_redis(stores, h.shard) == []


async def test_the_keepers_round_applies_a_lease_only_when_its_batch_is_due(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lease with a few appends is not applied each round (one script a round per lease
    would cost a key at a few calls a round more than the per-request path), but once
    APPLY_AFTER_S passed since its last batch, or once APPLY_AT appends wait; every micro
    lands once either way."""
    # An hour between batches: however slowly a loaded machine settles the calls, only the
    # test's own step back in time makes a batch due by time.
    after_s = 3600.0
    monkeypatch.setattr(leases_module, "APPLY_AFTER_S", after_s)
    store = _on(stores)
    leases = store.leases
    leases._wanted = lambda rate: 0 if rate.current() < MIN_UNITS else 4 * APPLY_AT  # one lease
    h = await make_holder(stores, credit=1_000_000)
    rids = [f"r{n}" for n in range(APPLY_AT + 8)]
    await _at_a_granules_start(stores)
    for rid in rids:
        await _admit(store, h, rid)
    (lease,) = leases._open.values()
    lease.ends_at = math.inf  # it admitted every call; its end would only add a closing script
    first = [rid for rid in rids if not leases.owns(rid)]  # before the key was busy
    leased = [rid for rid in rids if leases.owns(rid)]
    await _settle_all(store, h, first, 100)
    scripts = leases.runs.scripts

    async def settle(batch: Sequence[str]) -> None:
        await _settle_all(store, h, batch, 100)
        await leases.keep(due_only=True)

    await settle(leased[:3])
    assert leases.runs.scripts == scripts and len(lease.unapplied) == 3  # not due yet
    lease.applied_at -= after_s  # its last batch is that long ago
    await leases.keep(due_only=True)
    assert leases.runs.scripts == scripts + 1 and not lease.unapplied
    await settle(leased[3 : 3 + APPLY_AT - 1])
    assert leases.runs.scripts == scripts + 1  # one short of a batch
    await settle(leased[3 + APPLY_AT - 1 : 3 + APPLY_AT])
    assert leases.runs.scripts == scripts + 2 and not lease.unapplied
    applied = len(first) + 3 + APPLY_AT
    bal, held = await store.balance(h.account_id) or (0, 0)
    assert bal == 1_000_000 - applied * 100 and held > 0
    await _settle_all(store, h, leased[3 + APPLY_AT :], 100)
    await leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - len(rids) * 100, 0)
    assert sorted(r[0] for r in await _rows(stores, h.shard)) == sorted(rids)


async def test_a_round_over_more_leases_than_it_sends_at_once_keeps_them_all(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five keys' leases, two sent at a time: one round applies every lease's appends."""
    monkeypatch.setattr(leases_module, "KEEP_AT_ONCE", 2)
    store = _on(stores)
    holders = [await make_holder(stores, credit=1_000_000) for _ in range(5)]
    await _at_a_granules_start(stores)  # one lease a key
    for n, h in enumerate(holders):
        rids = [f"k{n}c{c}" for c in range(6)]
        for rid in rids:
            await _admit(store, h, rid)
        assert any(store.leases.owns(rid) for rid in rids)
        await _settle_all(store, h, rids, 100)
    assert len(store.leases._open) == 5
    await store.leases.keep()
    assert not any(lease.unapplied for lease in store.leases._open.values())
    await store.leases.close_all()
    for h in holders:
        assert await store.balance(h.account_id) == (1_000_000 - 6 * 100, 0)


async def test_a_lease_waiting_for_a_call_still_served_keeps_its_deadline_pushed(
    stores: Stores,
) -> None:
    """A lease that stopped admitting gives back its unused part, but a call of it still
    served (a long stream) keeps it open: the keeper's extend rounds push its deadline as
    they push an admitting lease's, so no sweeper closes it under the call."""
    store, h, rids = await _busy(stores, 6)
    lease = store.leases._requests[rids[-1]][0]
    await _settle_all(store, h, rids[:-1], 100)  # the last call is still served
    store.leases.retire_all()
    await store.leases.keep()  # its unused part given back; still open
    assert lease.trimmed and not lease.closed
    deadlines = store.keys.deadlines(h.shard)
    await store.redis.zadd(deadlines, {lease.id: 0})  # as if its deadline were passing
    await store.leases.keep(extend=True, due_only=True)
    assert (await store.redis.zscore(deadlines, lease.id) or 0) > 0
    assert await sweep_once(_process(stores)) == 0  # the sweeper leaves it be
    await _settle_all(store, h, rids[-1:], 100)
    await store.leases.keep()
    assert lease.closed
    assert await store.balance(h.account_id) == (1_000_000 - 6 * 100, 0)


async def test_a_key_seen_rarely_takes_the_per_request_path(stores: Stores) -> None:
    store = _on(stores)
    h = await make_holder(stores)
    for n in range(MIN_UNITS - 1):
        await _admit(store, h, f"r{n}")
    assert await _leases_in_redis(stores, h.shard) == []


async def test_leases_of_several_processes_never_pass_a_window(stores: Stores) -> None:
    """Two processes admitting a key capped at 30 requests a minute, concurrently: at most 30
    are admitted however their leases fall, and what was not used is given back."""
    limit = parse_quota({"window": "minute", "metric": "requests", "limit": 30})
    h = await make_holder(stores, key_quotas=(limit,))
    a, b = _on(stores), _process(stores)

    async def one(store: HotStore, rid: str) -> bool:
        d = await store.reserve(rid, h.record, input_tokens=5, max_output_tokens=5, spend_micros=10)
        if isinstance(d, Admitted):
            await store.settle(h.shard, h.account_id, rid, Settlement("m", "p", USAGE, 5))
        return isinstance(d, Admitted)

    outcomes = await asyncio.gather(*(one(a if n % 2 else b, f"r{n}") for n in range(80)))
    assert sum(outcomes) <= 30
    await a.leases.close_all()
    await b.leases.close_all()
    a.leases.enabled = False  # what the leases did not use was given back: the rest admits
    more = [await one(a, f"s{n}") for n in range(40)]
    assert sum(outcomes) + sum(more) == 30


async def test_a_process_that_dies_holding_a_lease_leaves_nothing_lost_or_twice(
    stores: Stores,
) -> None:
    """What a dead process appended is debited once by the sweeper's close; the rest of its
    lease is given back; a second sweep finds nothing."""
    store, h, rids = await _busy(stores, 12)
    await _settle_all(store, h, rids[:9], 250)  # three were in flight when it died
    for name in await _leases_in_redis(stores, h.shard):
        await store.redis.zadd(store.keys.deadlines(h.shard), {name: 0})
    assert await sweep_once(_process(stores)) >= 1
    assert await store.balance(h.account_id) == (1_000_000 - 9 * 250, 0)
    assert sorted(r[0] for r in await _rows(stores, h.shard)) == sorted(rids[:9])
    assert await sweep_once(_process(stores)) == 0


async def test_a_retried_append_is_debited_once(stores: Stores) -> None:
    store, h, rids = await _busy(stores, 8)
    lease, i, o, held, _ = store.leases._requests["r7"]
    store.leases._requests["r7"] = (lease, i, o, held, True)  # its first append was cut off
    await _settle_all(store, h, rids, 100)  # r7 first appended by the retry script
    await store.leases.keep()
    # A retry after the apply finds it applied, and appends nothing.
    store.leases._requests["r7"] = (lease, i, o, held, True)
    lease.in_flight += 1
    assert await store.settle(h.shard, h.account_id, "r7", Settlement("m", "p", USAGE, 100)) == 1
    await store.leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - 8 * 100, 0)
    assert sorted(r[0] for r in await _rows(stores, h.shard)) == sorted(rids)


async def test_a_retry_after_the_lease_closed_without_it_is_told_closed(stores: Stores) -> None:
    """Its lease was closed (by the sweeper) before the append reached Redis: the settlement
    is told CLOSED, which services/settlement.py debits late as a lost reservation."""
    store = _on(stores)
    h = await make_holder(stores, credit=1_000_000)
    for n in range(6):
        await _admit(store, h, f"r{n}")
    lease, i, o, held, _ = store.leases._requests["r5"]
    assert await store.leases.close_expired(h.shard, lease.id)  # as a sweeper would
    store.leases._requests["r5"] = (lease, i, o, held, True)
    done = await store.settle(h.shard, h.account_id, "r5", Settlement("m", "p", USAGE, 100))
    assert done == CLOSED
    # Nothing debited; held: only the three calls made before the key was busy.
    assert await store.balance(h.account_id) == (1_000_000, 3 * 1_000)


async def test_a_small_balance_is_not_leased(stores: Stores) -> None:
    """Under four calls' worst case in a quarter of the balance: every call is reserved on
    its own, so none is refused while headroom sits in a lease."""
    store = _on(stores)
    h = await make_holder(stores, credit=10_000)
    for n in range(8):
        await _admit(store, h, f"r{n}")
    assert await _leases_in_redis(stores, h.shard) == []


async def test_a_revocation_returns_only_once_no_lease_can_admit(stores: Stores) -> None:
    store, other = _on(stores), _process(stores)
    h = await make_holder(stores, credit=1_000_000)
    for n in range(8):
        await _admit(other, h, f"r{n}")
    assert await _leases_in_redis(stores, h.shard)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await store.revoke_key(h.shard, h.record.key_id)
    assert loop.time() - started <= MAX_LIFE_MS / 1000 + 0.2
    refused = await other.reserve(
        "late", h.record, input_tokens=5, max_output_tokens=5, spend_micros=10
    )
    assert refused == KeyRefused("key_revoked")
    assert not isinstance(refused, QuotaRefused)
    await other.leases.close_all()


async def test_debits_appended_under_a_lease_redis_lost_are_handed_on(stores: Stores) -> None:
    """Redis lost the lease (a restart without its data) before applying what was appended:
    each debit is handed to `on_lost` (services/settlement.py debits it late), and the
    orphaned stream is dropped so nothing can apply it twice."""
    store = _on(stores)
    lost: list[str] = []
    store.leases.on_lost = lambda rid, *_: lost.append(rid)
    h = await make_holder(stores, credit=1_000_000)
    rids = [f"r{n}" for n in range(8)]
    for rid in rids:
        await _admit(store, h, rid)
    await _settle_all(store, h, rids, 100)
    (lease_id,) = await _leases_in_redis(stores, h.shard)
    await store.redis.hdel(store.keys.reservations(h.shard), lease_id)
    await store.leases.keep()
    assert sorted(lost) == sorted(rids[MIN_UNITS - 1 :])  # the first three were not leased
    assert not await store.redis.exists(store.keys.lease_stream(h.shard, lease_id))


async def test_a_leased_debit_queues_the_row_settle_lua_would(stores: Stores) -> None:
    """The settler reads a leased call's message as any other: the same values a per-request
    settle.lua writes for the same settlement (its ids and times aside)."""
    store = _on(stores)
    h = await make_holder(stores, credit=1_000_000)
    detail = (("web_search_calls", 2),)
    s = Settlement("m", "p", USAGE, 321, "v7", 300, detail, "alice")
    for n in range(MIN_UNITS + 1):
        await _admit(store, h, f"r{n}")
    assert not store.leases.owns("r0") and store.leases.owns(f"r{MIN_UNITS}")
    for rid in ("r0", f"r{MIN_UNITS}"):
        await store.settle(h.shard, h.account_id, rid, s)
    await store.leases.close_all()
    rows = {r[0]: r for r in await _rows(stores, h.shard)}
    plain, leased = rows["r0"], rows[f"r{MIN_UNITS}"]
    assert len(plain) == len(leased) == 19
    skip = {0, 13, 14}  # request id, reserved at, settled at
    assert [v for n, v in enumerate(plain) if n not in skip] == [
        v for n, v in enumerate(leased) if n not in skip
    ]


async def test_a_cost_above_what_the_lease_holds_takes_only_what_is_free(stores: Stores) -> None:
    """A provider reporting more than the lease has left: the rest is taken from what is
    free, as settle.lua takes it beyond a hold, and what is not free is uncollected; the
    balance never goes below its floor."""
    store, h, rids = await _busy(stores, 8, credit=40_000)
    leased = rids[MIN_UNITS - 1 :]  # 5 calls under a lease of 8 units of 1,000
    await _settle_all(store, h, leased[:4], 1_000)
    done = await store.settle(
        h.shard, h.account_id, leased[4], Settlement("m", "p", USAGE, 100_000)
    )
    assert done == DEBITED
    await store.leases.close_all()
    # Held: the three calls before the lease. Free then: 40,000 - 4,000 - 3,000 = 33,000.
    assert await store.balance(h.account_id) == (3_000, 3_000)
    rows = {(r[0], r[1]): r for r in await _rows(stores, h.shard)}
    assert rows[(leased[4], "debit")][4] == "33000"
    assert rows[(leased[4], "uncollected")][4] == "67000"
    assert rows[(leased[4], "uncollected")][15] == "balance"


async def test_a_lease_that_stops_admitting_gives_back_its_unused_part_at_once(
    stores: Stores,
) -> None:
    """Calls of it still served keep their worst case held; what it would have admitted
    more is given back at the next round, not when its last call ends."""
    store, h, rids = await _busy(stores, 6)
    store.leases.retire_all()
    await store.leases.keep()
    held_by_calls = 6 * 1_000  # three reserved one by one, three under the lease
    assert await store.balance(h.account_id) == (1_000_000, held_by_calls)
    await _settle_all(store, h, rids, 400)
    await store.leases.keep()  # the lease closes: its calls are settled
    assert await store.balance(h.account_id) == (1_000_000 - 6 * 400, 0)
    assert await _leases_in_redis(stores, h.shard) == []


async def test_a_refused_call_whose_append_fails_still_lets_its_lease_close(
    stores: Stores,
) -> None:
    """The provider refused a forwarded call and Redis refused the refusal's append: the
    call is no longer in flight, so its lease still closes and gives back all it holds (the
    release's retry finds nothing held per request)."""
    store, h, rids = await _busy(stores, 6)
    for rid in rids[:-1]:
        await store.settle(h.shard, h.account_id, rid, Settlement("m", "p", USAGE, 400))
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
    assert await _leases_in_redis(stores, h.shard) == []


async def test_a_stop_during_a_top_up_gives_back_the_lease_it_brings(stores: Stores) -> None:
    """A lease running low asks for the next one in the background; a stop that comes while
    that grant is on its way closes the new lease too, not only the ones it knew of."""
    store, h, rids = await _busy(stores, 10)  # 3 one by one, then a lease of 8 runs low
    assert store.leases._tasks, "a top-up is on its way"
    await store.leases.close_all()
    await _settle_all(store, h, rids[:3], 100)
    assert await _leases_in_redis(stores, h.shard) == []
    assert await store.balance(h.account_id) == (1_000_000 - 3 * 100, 0)


async def test_a_call_whose_lease_was_closed_under_it_is_debited_late(stores: Stores) -> None:
    """A stop (or a sweeper) closed the lease while a call of it was served: its settle
    debits it from what is free, once, as a debit after a void is."""
    store, h, rids = await _busy(stores, 6)
    await store.leases.close_all()
    last = rids[-1]
    done = await store.settle(h.shard, h.account_id, last, Settlement("m", "p", USAGE, 700))
    assert done == DEBITED_LATE
    again = await store.settle(h.shard, h.account_id, last, Settlement("m", "p", USAGE, 700))
    assert again == CLOSED
    assert await store.balance(h.account_id) == (1_000_000 - 700, 3 * 1_000)
    assert [r[0] for r in await _rows(stores, h.shard)] == [last]


async def test_a_call_refused_beside_another_process_lease_gets_its_room_back(
    stores: Stores,
) -> None:
    """Another process holds a lease it is not using up (nothing appended since its last
    batch); a call this process cannot fit without that room asks for it back (the
    account's `lr`), the other process's keeper reads that with the lease's next batch and
    gives back what the lease would have admitted more, and the call is admitted on its one
    retry."""
    a, b = _on(stores), _process(stores)
    h = await make_holder(stores, credit=100_000)
    for n in range(6):
        await _admit(b, h, f"b{n}")  # b's lease: 8 calls of 1,000 (3 reserved on their own)
    await b.settle(h.shard, h.account_id, "b5", Settlement("m", "p", USAGE, 500))
    free = 100_000 - 3 * 1_000 - 8 * 1_000
    assert await a.balance(h.account_id) == (100_000, 100_000 - free)

    async def other_process_keeper() -> None:  # as background.py runs it
        while True:
            await asyncio.sleep(LEASE_KEEP_S)
            await b.leases.keep(due_only=True)

    await b.leases.keep()  # b5's append applied: b's lease now only waits, idle
    keeper = asyncio.ensure_future(other_process_keeper())
    big = free + 5_000  # fits only once b's lease gives back its unused part
    try:
        decision = await a.reserve(
            "big", h.record, input_tokens=1, max_output_tokens=1, spend_micros=big
        )
    finally:
        keeper.cancel()
    assert isinstance(decision, Admitted), decision
    await b.leases.close_all()


async def test_calls_of_one_account_refused_together_share_one_reclaim(stores: Stores) -> None:
    """Twenty calls refused at once beside another process's lease: one reclaim asks
    Redis for the room, the twenty wait on it and are each asked once more."""
    a, b = _on(stores), _process(stores)
    h = await make_holder(stores, credit=100_000)
    for n in range(6):
        await _admit(b, h, f"b{n}")  # b's lease holds room a's calls cannot have
    runs = a.leases.reclaim_runs
    big = 100_000  # more than is free, leases given back or not
    decisions = await asyncio.gather(
        *(
            a.reserve(f"big{n}", h.record, input_tokens=1, max_output_tokens=1, spend_micros=big)
            for n in range(20)
        )
    )
    assert not any(isinstance(d, Admitted) for d in decisions)
    assert a.leases.reclaims == 20 and a.leases.reclaim_runs - runs == 1
    await b.leases.close_all()


async def test_a_call_appended_after_a_sweeper_closed_its_lease_is_debited_late_once(
    stores: Stores,
) -> None:
    """The process was cut off past its lease's deadline and a sweeper closed the lease;
    the process does not know yet, serves a call of it, and appends: nothing is added (the
    close dropped the stream), and the call is debited from what is free, once."""
    store, h, rids = await _busy(stores, 6)
    lease = store.leases._requests[rids[-1]][0]
    assert await sweep_close(stores, h.shard, lease.id)
    done = await store.settle(h.shard, h.account_id, rids[-1], Settlement("m", "p", USAGE, 900))
    assert done == DEBITED_LATE
    await store.leases.keep()  # the process finds its lease gone: nothing else to settle
    assert await store.balance(h.account_id) == (1_000_000 - 900, 3 * 1_000)
    assert [r[0] for r in await _rows(stores, h.shard)] == [rids[-1]]
    assert not await store.redis.exists(store.keys.lease_stream(h.shard, lease.id))


async def sweep_close(stores: Stores, shard: int, lease_id: str) -> bool:
    """Another process's sweeper closing the lease at its deadline."""
    return await _process(stores).leases.close_expired(shard, lease_id)
