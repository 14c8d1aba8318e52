"""The response cache's entries in Redis (stores/redis/cache/entries.py): an owner's entries
never hold more than its budget however many keeps run at once, never answer another owner,
never outlive their expiry, and a purge drops exactly what it names. Real Redis, a private
prefix."""

from __future__ import annotations

import asyncio
import random
from typing import cast

from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.ports.cache import CacheHeld
from gateway.stores.redis.keys import shard_of

NOW = 1_800_000_000_000
KEY = "mwc1:" + "a" * 64


def _owner() -> tuple[int, str]:
    owner = new_id("acct")
    return shard_of(owner), owner


async def _keep(
    stores: Stores,
    owner: tuple[int, str],
    key: str,
    answer: bytes,
    *,
    ttl_ms: int = 60_000,
    now_ms: int = NOW,
    budget: int = 1_000,
    key_id: str = "key_1",
    model: str = "gpt-4o",
) -> bool:
    shard, owner_id = owner
    kept = await stores.store.cache.keep(
        shard, owner_id, key, answer, ttl_ms=ttl_ms, now_ms=now_ms, budget_bytes=budget,
        max_entry_bytes=min(budget, 600), key_id=key_id, model=model,
    )  # fmt: skip
    return kept.kept


async def _index_bytes(stores: Stores, owner: tuple[int, str]) -> int:
    """The sizes the index lists, summed: what `=bytes` must equal."""
    name = stores.store.keys.cache_index(*owner)
    index = cast(dict[bytes, bytes], await stores.store.redis.hgetall(name))
    return sum(int(meta.split(b"|")[0]) for field, meta in index.items() if field != b"=bytes")


async def test_an_answer_is_read_back_by_its_owner_only_and_not_once_expired(
    stores: Stores,
) -> None:
    mine, theirs = _owner(), _owner()
    assert await _keep(stores, mine, KEY, b'{"id":"x","a|b":1}', ttl_ms=5_000)
    cache = stores.store.cache
    assert await cache.lookup(*mine, KEY, NOW + 4_999) == b'{"id":"x","a|b":1}'
    assert await cache.lookup(*mine, KEY, NOW + 5_000) is None  # expired
    assert await cache.lookup(*theirs, KEY, NOW) is None  # the same key, another owner
    assert await cache.lookup(*mine, "mwc1:" + "b" * 64, NOW) is None


async def test_an_answer_over_the_entry_limit_or_the_budget_is_not_kept(stores: Stores) -> None:
    owner = _owner()
    assert not await _keep(stores, owner, KEY, b"x" * 601)
    assert not await _keep(stores, owner, KEY, b"x" * 101, budget=100)
    assert await stores.store.cache.lookup(*owner, KEY, NOW) is None
    assert (await stores.store.cache.held(*owner)).bytes == 0


async def test_the_soonest_to_expire_make_room_and_a_replacement_counts_once(
    stores: Stores,
) -> None:
    owner, cache = _owner(), stores.store.cache
    for n, ttl in enumerate((30_000, 10_000, 20_000)):
        assert await _keep(stores, owner, f"mwc1:{n}", b"x" * 300, ttl_ms=ttl)
    held = await cache.held(*owner)
    assert (held.entries, held.bytes) == (3, 900)
    assert await _keep(stores, owner, "mwc1:0", b"y" * 200)  # replaced: 800
    assert (await cache.held(*owner)).bytes == 800
    assert await _keep(stores, owner, "mwc1:3", b"z" * 300)  # evicts mwc1:1 (10 s)
    assert await cache.lookup(*owner, "mwc1:1", NOW) is None
    assert await cache.lookup(*owner, "mwc1:2", NOW) == b"x" * 300
    assert await cache.lookup(*owner, "mwc1:0", NOW) == b"y" * 200
    held = await cache.held(*owner)
    assert (held.entries, held.bytes) == (3, 800) and await _index_bytes(stores, owner) == 800


async def test_expired_entries_leave_before_anything_live_is_evicted(stores: Stores) -> None:
    owner, cache = _owner(), stores.store.cache
    assert await _keep(stores, owner, "mwc1:old", b"x" * 500, ttl_ms=1_000)
    assert await _keep(stores, owner, "mwc1:live", b"x" * 400, ttl_ms=60_000)
    assert await _keep(stores, owner, "mwc1:new", b"x" * 500, now_ms=NOW + 2_000)
    assert await cache.lookup(*owner, "mwc1:live", NOW + 2_000) == b"x" * 400
    assert (await cache.held(*owner)).bytes == 900


async def test_concurrent_keeps_never_hold_more_than_the_budget(stores: Stores) -> None:
    owner, rng = _owner(), random.Random(7)
    sizes = [rng.randint(1, 600) for _ in range(200)]
    await asyncio.gather(
        *(_keep(stores, owner, f"mwc1:{n % 60}", b"x" * size, ttl_ms=rng.randint(1_000, 9_000))
          for n, size in enumerate(sizes))
    )  # fmt: skip
    held = await stores.store.cache.held(*owner)
    assert 0 < held.bytes <= 1_000 and held.bytes == await _index_bytes(stores, owner)


async def test_a_purge_drops_what_it_names_and_nothing_of_another_owner(stores: Stores) -> None:
    owner, other, cache = _owner(), _owner(), stores.store.cache
    await _keep(stores, owner, "mwc1:a", b"1" * 10, key_id="key_a", model="m1")
    await _keep(stores, owner, "mwc1:b", b"2" * 20, key_id="key_b", model="m1")
    await _keep(stores, owner, "mwc1:c", b"3" * 40, key_id="key_b", model="m2")
    await _keep(stores, other, "mwc1:a", b"4" * 80, key_id="key_a", model="m1")
    assert await cache.purge(*owner, key_id="key_a") == CacheHeld(1, 10)
    assert await cache.lookup(*owner, "mwc1:a", NOW) is None
    purged = await cache.purge(*owner, model="m2")
    assert (purged.entries, purged.bytes) == (1, 40)
    assert await cache.lookup(*owner, "mwc1:b", NOW) == b"2" * 20
    held = await cache.held(*owner)
    assert (held.entries, held.bytes) == (1, 20)
    everything = await cache.purge(*owner)
    assert (everything.entries, everything.bytes) == (1, 20)
    assert (await cache.held(*owner)).bytes == 0
    assert await cache.lookup(*other, "mwc1:a", NOW) == b"4" * 80


async def test_the_scripts_touch_only_the_owners_three_keys(stores: Stores) -> None:
    """Redis Cluster's rule, as every script's (test_script_keys.py): the keys a keep and a
    purge change are the three they were given, all under the owner's shard tag."""
    owner, redis, keys = _owner(), stores.store.redis, stores.store.keys
    pattern = f"{keys.prefix}:*"
    before = {k: await redis.dump(k) async for k in redis.scan_iter(match=pattern)}
    await _keep(stores, owner, "mwc1:a", b"x" * 300, ttl_ms=1_000)
    await _keep(stores, owner, "mwc1:b", b"x" * 600, now_ms=NOW + 5_000)
    await stores.store.cache.purge(*owner, model="gpt-4o")
    await _keep(stores, owner, "mwc1:c", b"x" * 10)
    after = {k: await redis.dump(k) async for k in redis.scan_iter(match=pattern)}
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    given = {keys.cache_entries(*owner), keys.cache_index(*owner), keys.cache_expiry(*owner)}
    assert changed == given and all(name.startswith(keys.tag(owner[0])) for name in given)
    ttl = await redis.pttl(keys.cache_entries(*owner))
    assert ttl > 0  # the owner's keys expire with their last entry
