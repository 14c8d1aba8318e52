"""Leases against the real scripts in a real Redis: a busy key's calls are admitted under a
slice held like a reservation and settled by appends applied in batches; leases of several
processes never pass a window, give back what they hold when a call elsewhere needs it, and a
revocation waits for them (tests/integration/test_lease_faults.py: crashes and retries)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest

from billing.money.admission import Admitted, KeyRefused, QuotaRefused
from billing.money.leases import GRANULE_MS, MAX_LIFE_MS, MIN_UNITS
from billing.money.quotas import parse_quota
from gateway.background import LEASE_KEEP_S
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.redis.hotstore import DEBITED, HotStore
from gateway.stores.redis.leases import process as leases_module
from gateway.stores.redis.leases.process import APPLY_AT
from gateway.workers.sweeper import sweep_once
from tests.integration.conftest import make_holder
from tests.integration.leasing import (
    USAGE,
    admit,
    another_process,
    busy,
    leases_in_redis,
    leases_on,
    settle_all,
    stream_rows,
)
from tests.support.harness import advance_test_clock


async def _at_a_granules_start(stores: Stores) -> None:
    """Redis's clock (the test clock) moved to just after a granule's start. A lease ends at
    its granule's edge: wherever that edge fell in a test, a lease it counts on would end
    there and another be granted; now each lease the test is granted lasts MAX_LIFE_MS."""
    seconds, micros = await stores.store.redis.time()
    ahead = GRANULE_MS - (seconds * 1000 + micros // 1000) % GRANULE_MS  # the offset is 0
    await advance_test_clock(stores.store, ahead)


async def test_a_busy_key_is_leased_and_every_call_is_debited_once(stores: Stores) -> None:
    store, h, rids = await busy(stores, 20)
    assert len(await leases_in_redis(stores, h.shard)) >= 1
    bal, held = await store.balance(h.account_id) or (0, 0)
    assert bal == 1_000_000 and held >= 20 * 1_000  # the leases hold at least the calls' worst
    await settle_all(store, h, rids, 300)
    await store.leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - 20 * 300, 0)
    rows = await stream_rows(stores, h.shard)
    assert sorted(r[0] for r in rows) == sorted(rids)
    assert {(r[1], r[4]) for r in rows} == {("debit", "300")}
    assert await leases_in_redis(stores, h.shard) == []


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
    store = leases_on(stores)
    leases = store.leases
    leases._wanted = lambda rate: 0 if rate.current() < MIN_UNITS else 4 * APPLY_AT  # one lease
    h = await make_holder(stores, credit=1_000_000)
    rids = [f"r{n}" for n in range(APPLY_AT + 8)]
    await _at_a_granules_start(stores)
    for rid in rids:
        await admit(store, h, rid)
    (lease,) = leases._open.values()
    lease.ends_at = math.inf  # it admitted every call; its end would only add a closing script
    first = [rid for rid in rids if not leases.owns(rid)]  # before the key was busy
    leased = [rid for rid in rids if leases.owns(rid)]
    await settle_all(store, h, first, 100)
    scripts = leases.runs.scripts

    async def settle(batch: Sequence[str]) -> None:
        await settle_all(store, h, batch, 100)
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
    await settle_all(store, h, leased[3 + APPLY_AT :], 100)
    await leases.close_all()
    assert await store.balance(h.account_id) == (1_000_000 - len(rids) * 100, 0)
    assert sorted(r[0] for r in await stream_rows(stores, h.shard)) == sorted(rids)


async def test_a_round_over_more_leases_than_it_sends_at_once_keeps_them_all(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five keys' leases, two sent at a time: one round applies every lease's appends."""
    monkeypatch.setattr(leases_module, "KEEP_AT_ONCE", 2)
    store = leases_on(stores)
    holders = [await make_holder(stores, credit=1_000_000) for _ in range(5)]
    await _at_a_granules_start(stores)  # one lease a key
    for n, h in enumerate(holders):
        rids = [f"k{n}c{c}" for c in range(6)]
        for rid in rids:
            await admit(store, h, rid)
        assert any(store.leases.owns(rid) for rid in rids)
        await settle_all(store, h, rids, 100)
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
    store, h, rids = await busy(stores, 6)
    lease = store.leases._requests[rids[-1]][0]
    await settle_all(store, h, rids[:-1], 100)  # the last call is still served
    store.leases.retire_all()
    await store.leases.keep()  # its unused part given back; still open
    assert lease.trimmed and not lease.closed
    deadlines = store.keys.deadlines(h.shard)
    await store.redis.zadd(deadlines, {lease.id: 0})  # as if its deadline were passing
    await store.leases.keep(extend=True, due_only=True)
    assert (await store.redis.zscore(deadlines, lease.id) or 0) > 0
    assert await sweep_once(another_process(stores)) == 0  # the sweeper leaves it be
    await settle_all(store, h, rids[-1:], 100)
    await store.leases.keep()
    assert lease.closed
    assert await store.balance(h.account_id) == (1_000_000 - 6 * 100, 0)


async def test_a_key_seen_rarely_takes_the_per_request_path(stores: Stores) -> None:
    store = leases_on(stores)
    h = await make_holder(stores)
    for n in range(MIN_UNITS - 1):
        await admit(store, h, f"r{n}")
    assert await leases_in_redis(stores, h.shard) == []


async def test_leases_of_several_processes_never_pass_a_window(stores: Stores) -> None:
    """Two processes admitting a key capped at 30 requests a minute, concurrently: at most 30
    are admitted however their leases fall, and what was not used is given back."""
    limit = parse_quota({"window": "minute", "metric": "requests", "limit": 30})
    h = await make_holder(stores, key_quotas=(limit,))
    a, b = leases_on(stores), another_process(stores)

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


async def test_a_small_balance_is_not_leased(stores: Stores) -> None:
    """Under four calls' worst case in a quarter of the balance: every call is reserved on
    its own, so none is refused while headroom sits in a lease."""
    store = leases_on(stores)
    h = await make_holder(stores, credit=10_000)
    for n in range(8):
        await admit(store, h, f"r{n}")
    assert await leases_in_redis(stores, h.shard) == []


async def test_a_revocation_returns_only_once_no_lease_can_admit(stores: Stores) -> None:
    store, other = leases_on(stores), another_process(stores)
    h = await make_holder(stores, credit=1_000_000)
    for n in range(8):
        await admit(other, h, f"r{n}")
    assert await leases_in_redis(stores, h.shard)
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


async def test_a_leased_debit_queues_the_row_settle_lua_would(stores: Stores) -> None:
    """The settler reads a leased call's message as any other: the same values a per-request
    settle.lua writes for the same settlement (its ids and times aside)."""
    store = leases_on(stores)
    h = await make_holder(stores, credit=1_000_000)
    detail = (("web_search_calls", 2),)
    s = Settlement("m", "p", USAGE, 321, "v7", 300, detail, "alice")
    for n in range(MIN_UNITS + 1):
        await admit(store, h, f"r{n}")
    assert not store.leases.owns("r0") and store.leases.owns(f"r{MIN_UNITS}")
    for rid in ("r0", f"r{MIN_UNITS}"):
        await store.settle(h.shard, h.account_id, rid, s)
    await store.leases.close_all()
    rows = {r[0]: r for r in await stream_rows(stores, h.shard)}
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
    store, h, rids = await busy(stores, 8, credit=40_000)
    leased = rids[MIN_UNITS - 1 :]  # 5 calls under a lease of 8 units of 1,000
    await settle_all(store, h, leased[:4], 1_000)
    done = await store.settle(
        h.shard, h.account_id, leased[4], Settlement("m", "p", USAGE, 100_000)
    )
    assert done == DEBITED
    await store.leases.close_all()
    # Held: the three calls before the lease. Free then: 40,000 - 4,000 - 3,000 = 33,000.
    assert await store.balance(h.account_id) == (3_000, 3_000)
    rows = {(r[0], r[1]): r for r in await stream_rows(stores, h.shard)}
    assert rows[(leased[4], "debit")][4] == "33000"
    assert rows[(leased[4], "uncollected")][4] == "67000"
    assert rows[(leased[4], "uncollected")][15] == "balance"


async def test_a_lease_that_stops_admitting_gives_back_its_unused_part_at_once(
    stores: Stores,
) -> None:
    """Calls of it still served keep their worst case held; what it would have admitted
    more is given back at the next round, not when its last call ends."""
    store, h, rids = await busy(stores, 6)
    store.leases.retire_all()
    await store.leases.keep()
    held_by_calls = 6 * 1_000  # three reserved one by one, three under the lease
    assert await store.balance(h.account_id) == (1_000_000, held_by_calls)
    await settle_all(store, h, rids, 400)
    await store.leases.keep()  # the lease closes: its calls are settled
    assert await store.balance(h.account_id) == (1_000_000 - 6 * 400, 0)
    assert await leases_in_redis(stores, h.shard) == []


@pytest.mark.parametrize("late_s", [0.0, 0.9], ids=["on_time", "keeper_late"])
async def test_a_call_refused_beside_another_process_lease_gets_its_room_back(
    stores: Stores, late_s: float
) -> None:
    """Another process holds a lease it is not using up (nothing appended since its last
    batch); a call this process cannot fit without that room asks for it back (the
    account's `lr`), the other process's keeper reads that with the lease's next batch and
    gives back what the lease would have admitted more, and the call is admitted on its one
    retry. `keeper_late`: the other process's round comes 0.9 s late (a loaded machine):
    the retry waits for the give-back (the account's `lb`), not a fixed time."""
    a, b = leases_on(stores), another_process(stores)
    h = await make_holder(stores, credit=100_000)
    for n in range(6):
        await admit(b, h, f"b{n}")  # b's lease: 8 calls of 1,000 (3 reserved on their own)
    await b.settle(h.shard, h.account_id, "b5", Settlement("m", "p", USAGE, 500))
    free = 100_000 - 3 * 1_000 - 8 * 1_000
    assert await a.balance(h.account_id) == (100_000, 100_000 - free)

    async def other_process_keeper() -> None:  # as background.py runs it
        await asyncio.sleep(late_s)
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
    a, b = leases_on(stores), another_process(stores)
    h = await make_holder(stores, credit=100_000)
    for n in range(6):
        await admit(b, h, f"b{n}")  # b's lease holds room a's calls cannot have
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
