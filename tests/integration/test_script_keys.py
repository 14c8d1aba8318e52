"""Every key a script touches arrives through KEYS (Redis Cluster requires it), and the
store's guesses of quota specs and of Redis's clock are corrected, never trusted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.money.quotas import Quota
from billing.money.windows import calendar_period
from gateway.services.money.out import ADJUSTMENT, out_hold
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.redis.hotstore import CLOSED, DEBITED, HotStore
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.wire.scripts import load_script
from tests.integration.conftest import Holder, make_holder

QUOTAS_K = (Quota("minute", "tokens", 10**6), Quota("month", "spend_micros", 10**9))
QUOTAS_A = (Quota("day", "requests", 100), Quota("total", "requests", 1_000))
SETTLEMENT = Settlement("demo-gpt", "openai", Usage(input_tokens=5, output_tokens=5), 70)
ScriptFn = Callable[[Sequence[str], Sequence[Any]], Awaitable[Any]]


def _recording(script: ScriptFn, given: set[str]) -> ScriptFn:
    async def call(keys: Sequence[str], args: Sequence[Any]) -> Any:
        given.update(keys)
        return await script(keys, args)

    return call


async def _snapshot(stores: Stores) -> dict[bytes, bytes | None]:
    redis, prefix = stores.store.redis, stores.store.keys.prefix
    return {k: await redis.dump(k) async for k in redis.scan_iter(match=f"{prefix}:*")}


async def _reserve(store: HotStore, h: Holder, rid: str) -> Admitted:
    decision = await store.reserve(
        rid, h.record, input_tokens=10, max_output_tokens=10, spend_micros=500
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def test_scripts_write_only_keys_they_were_given(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=QUOTAS_K, account_quotas=QUOTAS_A)
    store, given = stores.store, set[str]()
    store._reserve = _recording(store._reserve, given)
    store._settle = _recording(store._settle, given)
    store._credit = _recording(store._credit, given)
    before = await _snapshot(stores)
    await _reserve(store, h, "r1")
    await store.settle(h.shard, h.account_id, "r1", SETTLEMENT)
    await _reserve(store, h, "r2")
    await store.void(h.shard, h.account_id, "r2")
    await store.apply_credit(h.account_id, 77, 1_000)
    after = await _snapshot(stores)
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed - given == set()
    counters = {k for k in changed if k.startswith(store.keys.counters(h.shard))}
    assert len(counters) == 4  # each window's counter, each touched through KEYS


async def test_lease_scripts_write_only_keys_they_were_given(stores: Stores) -> None:
    """A lease's grant, its batches and its close touch only their KEYS; its appends are
    single-key XADDs to the lease's stream."""
    h = await make_holder(stores, key_quotas=QUOTAS_K, account_quotas=QUOTAS_A)
    store, given = stores.store, set[str]()
    store.leases.enabled = True
    store._reserve = _recording(store._reserve, given)
    store._settle = _recording(store._settle, given)
    store.leases.runs._apply = _recording(store.leases.runs._apply, given)
    before = await _snapshot(stores)
    rids = [f"r{n}" for n in range(10)]
    for rid in rids:
        await _reserve(store, h, rid)
    for rid in rids:
        await store.settle(h.shard, h.account_id, rid, SETTLEMENT)
    await store.leases.close_all()
    after = await _snapshot(stores)
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    streams = {k for k in changed if k.startswith(store.keys.tag(h.shard) + "ls:")}
    assert changed - given - streams == set()
    assert any(k.startswith(store.keys.tag(h.shard) + "lq:") for k in changed)  # a lease ran


async def test_reserve_refuses_to_touch_a_counter_it_was_not_given(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=QUOTAS_K)
    k, s = stores.store.keys, h.shard
    raw = load_script(stores.store.redis, "reserve")
    fixed = (k.account(s, h.account_id), k.api_key(s, h.record.key_id), k.reservations(s),
             k.deadlines(s), k.ready(s), k.clock(s))  # fmt: skip
    args = ("r1", h.account_id, h.record.key_id, 1, 10, 10, 500, 0, 60_000, "1", k.counters(s), "")
    before = await _snapshot(stores)
    reply = await raw(fixed, args)
    assert reply[1] == b"undeclared" and reply[3] == b"mi:t:1000000;mo:s:1000000000"
    assert await _snapshot(stores) == before


async def test_settle_refuses_a_reservation_whose_counters_it_was_not_given(
    stores: Stores,
) -> None:
    h = await make_holder(stores, key_quotas=QUOTAS_K)
    await _reserve(stores.store, h, "r1")
    k, s = stores.store.keys, h.shard
    raw = load_script(stores.store.redis, "settle")
    fixed = (
        k.reservations(s),
        k.deadlines(s),
        k.account(s, h.account_id),
        k.stream(s),
        k.clock(s),
        k.voided(s, "r1"),
    )
    before = await _snapshot(stores)
    args = ("r1", "release", 0, 0, 0, "1", "", "", 0, 0, 0, 0, "", 60_000)
    assert await raw(fixed, args) == -1
    assert await _snapshot(stores) == before


async def test_a_stale_view_of_specs_and_clock_is_corrected(stores: Stores) -> None:
    h = await make_holder(stores)
    store = stores.store
    await _reserve(store, h, "r1")  # learns: no quotas
    day = Quota("day", "requests", 100)
    await store.put_account(h.account_id, plan="pro", mode="prepaid", billing_ready=True,
                            quotas=(day,), markup_bps=0)  # fmt: skip
    await store.redis.incrby(store.keys.clock(0), 3 * 86_400_000)
    await store.redis.incrby(store.keys.clock(h.shard), 3 * 86_400_000)
    admitted = await _reserve(store, h, "r2")
    period, _ = calendar_period("day", admitted.now_ms, int(store.tz_offset_ms()))
    name = Keys.period_counter(store.keys.counter(h.shard, "a", h.account_id, day.code), period)
    assert int(await store.redis.get(name) or 0) == 1


async def test_another_process_closes_a_reservation_from_its_record(stores: Stores) -> None:
    h = await make_holder(stores, credit=10_000, key_quotas=QUOTAS_K, account_quotas=QUOTAS_A)
    await _reserve(stores.store, h, "r1")
    s = stores.store
    other = HotStore(s.redis, s.keys, reservation_ttl_s=60, test_clock=True)
    assert await other.settle(h.shard, h.account_id, "r1", SETTLEMENT) == DEBITED
    assert await s.balance(h.account_id) == (10_000 - 70, 0)
    counts = await s.window_counts(h.shard, "a", h.account_id, QUOTAS_A)
    assert [c.used for c in counts] == [1, 1]
    assert await other.settle(h.shard, h.account_id, "r1", SETTLEMENT) == CLOSED


async def test_money_out_scripts_write_only_keys_they_were_given(stores: Stores) -> None:
    """take.lua, give_back.lua, credit.lua with a hold and credit_line.lua."""
    h = await make_holder(stores)
    store, given = stores.store, set[str]()
    out = store.money_out
    out._take = _recording(out._take, given)
    out._give_back = _recording(out._give_back, given)
    out._line = _recording(out._line, given)
    store._credit = _recording(store._credit, given)
    before = await _snapshot(stores)
    kept, dropped = (out_hold(h.account_id, 1_000, ADJUSTMENT, k) for k in ("a", "b"))
    await out.take(kept)
    await out.take(dropped)
    await out.give_back(h.account_id, dropped.hold_id)
    await store.apply_credit(h.account_id, 78, -1_000, hold=kept.hold_id)
    await out.set_line(h.account_id, 5_000)
    await out.set_line(h.account_id, 0)
    after = await _snapshot(stores)
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed and changed - given == set()
