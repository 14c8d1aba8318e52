"""The organization side of reserve.lua's wire format (end users, teams), through the real
script: the end-user budget it picks (own, else the key's default, else the account's), a
key's team read with the key, the counters they name (where `Keys` and `Declarations` say),
the `undeclared` reply's specs, and a refusal's scope id."""

from __future__ import annotations

from billing.money.admission import Admitted, EndUserInvalid, EndUsersFull, QuotaRefused
from billing.money.end_users import INVALID
from billing.money.quotas import Quota, encode_quotas
from billing.money.windows import calendar_period, sliding_granules
from gateway.stores.connect import Stores
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.wire.replies import Specs, undeclared
from gateway.stores.redis.wire.scripts import load_script
from tests.integration.conftest import Holder, make_holder

HOUR = Quota("hour", "requests", 2)
DAY = Quota("day", "tokens", 1_000)
MONTH = Quota("month", "requests", 5)


async def _reserve(stores: Stores, h: Holder, rid: str, user: str) -> object:
    return await stores.store.reserve(
        rid, h.record, input_tokens=30, max_output_tokens=20, spend_micros=900, end_user=user
    )


async def test_the_budget_picked_and_its_counters_are_where_keys_names_them(
    stores: Stores,
) -> None:
    h = await make_holder(stores)
    store, keys, redis = stores.store, stores.store.keys, stores.store.redis
    await store.put_end_user_budget(h.account_id, "", "", (MONTH,))
    await store.put_end_user_budget(h.account_id, h.record.key_id, "", (DAY,))
    await store.put_end_user_budget(h.account_id, "", "own", (HOUR,))
    admitted = await _reserve(stores, h, "r1", "own")
    assert isinstance(admitted, Admitted)
    own = keys.counter(h.shard, "u", Keys.end_user_owner(h.account_id, "own"), HOUR.code)
    fields, _ = sliding_granules("hour", admitted.now_ms)
    assert sum(int(v or 0) for v in await redis.hmget(own, fields)) == 1
    assert isinstance(await _reserve(stores, h, "r2", "other"), Admitted)
    day = Keys.period_counter(
        keys.counter(h.shard, "u", Keys.end_user_owner(h.account_id, "other"), DAY.code),
        calendar_period("day", admitted.now_ms, int(store.tz_offset_ms()))[0],
    )
    assert int(await redis.get(day) or 0) == 50  # the key's default, not the account's
    assert await redis.pttl(day) > 0  # it expires with its window
    await store.put_end_user_budget(h.account_id, h.record.key_id, "", ())
    await _reserve(stores, h, "r3", "other")  # now the account's default: a month window
    month = calendar_period("month", admitted.now_ms, int(store.tz_offset_ms()))[0]
    name = keys.counter(h.shard, "u", Keys.end_user_owner(h.account_id, "other"), MONTH.code)
    assert int(await redis.get(Keys.period_counter(name, month)) or 0) == 1


async def test_undeclared_names_every_spec_and_a_refusal_names_the_end_user(
    stores: Stores,
) -> None:
    h = await make_holder(stores, key_quotas=(DAY,))
    store, k, s = stores.store, stores.store.keys, h.shard
    await store.put_end_user_budget(h.account_id, "", "", (MONTH,))
    await store.put_end_user_budget(h.account_id, h.record.key_id, "", (HOUR,))
    await store.put_end_user_budget(h.account_id, "", "zoe", (DAY, HOUR))
    raw = load_script(store.redis, "reserve")
    fixed = (*store._reserve_keys(h.record), k.end_users_live(s, h.account_id))
    args = ("r1", h.account_id, h.record.key_id, 1, 10, 10, 500, 0, 60_000, "1",
            k.counters(s), "", "zoe", 100)  # fmt: skip
    specs = undeclared(await raw(fixed, args))
    assert specs is not None
    assert specs == Specs(
        specs.now_ms,
        encode_quotas((DAY,)),
        "",
        encode_quotas((HOUR,)),
        encode_quotas((MONTH,)),
        encode_quotas((DAY, HOUR)),
    )
    for rid in ("a", "b"):
        assert isinstance(await _reserve(stores, h, rid, "zoe"), Admitted)
    refused = await _reserve(stores, h, "c", "zoe")
    assert isinstance(refused, QuotaRefused)
    assert (refused.scope, refused.scope_id, refused.window) == ("end_user", "zoe", "hour")


async def test_an_out_of_bounds_id_is_refused_only_under_a_budget(stores: Stores) -> None:
    h = await make_holder(stores)
    assert isinstance(await _reserve(stores, h, "r1", INVALID), Admitted)
    await stores.store.put_end_user_budget(h.account_id, "", "", (HOUR,))
    assert isinstance(await _reserve(stores, h, "r2", INVALID), EndUserInvalid)


async def test_live_end_users_are_capped_and_leave_with_their_windows(stores: Stores) -> None:
    h = await make_holder(stores)
    base = stores.store
    store = HotStore(base.redis, base.keys, reservation_ttl_s=60, test_clock=True, end_users_max=2)
    await store.put_end_user_budget(h.account_id, "", "", (HOUR,))

    async def reserve(rid: str, user: str) -> object:
        return await store.reserve(
            rid, h.record, input_tokens=1, max_output_tokens=1, spend_micros=1, end_user=user
        )

    assert isinstance(await reserve("r1", "a"), Admitted)
    assert isinstance(await reserve("r2", "b"), Admitted)
    full = await reserve("r3", "c")
    assert isinstance(full, EndUsersFull) and full.limit == 2
    assert isinstance(await reserve("r4", "a"), Admitted)  # a live end user still passes
    live = base.keys.end_users_live(h.shard, h.account_id)
    assert await base.redis.zcard(live) == 2 and await base.redis.pttl(live) > 0
    await base.redis.incrby(base.keys.clock(h.shard), 3_600_000 + 600_000)  # hour + 2 granules
    assert isinstance(await reserve("r5", "c"), Admitted)
    assert await base.redis.zrange(live, 0, -1) == [b"c"]
    for rid in ("r1", "r2", "r4", "r5"):
        await store.release(h.shard, h.account_id, rid)


async def test_a_keys_team_is_read_with_it_and_counted_where_keys_names_it(
    stores: Stores,
) -> None:
    h = await make_holder(stores)
    store, keys, redis = stores.store, stores.store.keys, stores.store.redis
    await store.set_key_team(h.shard, h.record.key_id, "team_x", (HOUR,))
    admitted = await _reserve(stores, h, "t1", "")
    assert isinstance(admitted, Admitted)
    counter = keys.counter(h.shard, "t", "team_x", HOUR.code)
    fields, _ = sliding_granules("hour", admitted.now_ms)
    assert sum(int(v or 0) for v in await redis.hmget(counter, fields)) == 1
    await _reserve(stores, h, "t2", "")
    refused = await _reserve(stores, h, "t3", "")
    assert isinstance(refused, QuotaRefused)
    assert (refused.scope, refused.scope_id) == ("team", "team_x")
    raw = load_script(redis, "reserve")
    args = ("t4", h.account_id, h.record.key_id, 1, 1, 1, 1, 0, 60_000, "1",
            keys.counters(h.shard), "")  # fmt: skip
    specs = undeclared(await raw(store._reserve_keys(h.record), args))
    assert specs is not None and (specs.team, specs.team_quotas) == ("team_x", "h:r:2")
    await store.set_key_team(h.shard, h.record.key_id, None, ())
    assert isinstance(await _reserve(stores, h, "t5", ""), Admitted)  # out of the team
