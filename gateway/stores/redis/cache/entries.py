"""The response cache's entries: kept on their owner's shard, within the owner's byte budget.

An owner is the account whose calls share entries (or, when its policy shares them with its
organization, the organization). Its entries live in three keys under its shard's hash tag
(`Keys.cache_entries`, `cache_index`, `cache_expiry`), so a lookup rides on the same shard's
connection as the call's reservation and every script stays in one slot on a Redis Cluster.
An entry stores when it expires beside the answer: Redis 7.0 has no expiry per hash field,
so a lookup compares it with Redis's clock as the call's admission read it (`now_ms`), and
`keep` drops what expired before it counts the budget. Which answers may be kept, and under
which key, is billing/cache's rule; this module only keeps bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.ports.cache import CacheHeld, Kept
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.wire.scripts import load_script

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore


class CacheEntries:
    """Implements `stores.ports.cache.CacheEntriesPort` (this module's docstring)."""

    def __init__(self, store: HotCore) -> None:
        self._store = store
        self._keep = load_script(store.redis, "cache_keep")
        self._purge = load_script(store.redis, "cache_purge")

    def _names(self, shard: int, owner_id: str) -> tuple[str, str, str]:
        keys = self._store.keys
        return (
            keys.cache_entries(shard, owner_id),
            keys.cache_index(shard, owner_id),
            keys.cache_expiry(shard, owner_id),
        )

    async def lookup(self, shard: int, owner_id: str, cache_key: str, now_ms: int) -> bytes | None:
        """The answer kept under `cache_key`, or None (none, or expired by `now_ms`)."""
        with map_redis_errors():
            raw = await self._store.command("HGET", self._names(shard, owner_id)[0], cache_key)
        return live_answer(raw, now_ms)

    async def keep(
        self,
        shard: int,
        owner_id: str,
        cache_key: str,
        answer: bytes,
        *,
        ttl_ms: int,
        now_ms: int,
        budget_bytes: int,
        max_entry_bytes: int,
        key_id: str,
        model: str,
    ) -> Kept:
        """Keep `answer` for `ttl_ms`, evicting the owner's soonest-expiring entries until it
        fits `budget_bytes`; an answer over `max_entry_bytes` (or the budget) is not kept."""
        if ttl_ms <= 0:
            raise ValueError(f"a cache entry's ttl must be positive: {ttl_ms}")
        args = (cache_key, answer, ttl_ms, now_ms, budget_bytes, max_entry_bytes, key_id, model)
        with map_redis_errors():
            kept, evicted = await self._keep(self._names(shard, owner_id), args)
        return Kept(bool(kept), int(evicted))

    async def purge(
        self, shard: int, owner_id: str, *, key_id: str = "", model: str = ""
    ) -> CacheHeld:
        """Drop the owner's entries: all, or those one key stored, or those of one model."""
        with map_redis_errors():
            dropped, freed = await self._purge(self._names(shard, owner_id), (key_id, model))
        return CacheHeld(int(dropped), int(freed))

    async def held(self, shard: int, owner_id: str) -> CacheHeld:
        _, index, expiry = self._names(shard, owner_id)
        with map_redis_errors():
            entries = await self._store.redis.zcard(expiry)
            used = await self._store.redis.hget(index, "=bytes")
        return CacheHeld(int(entries), int(used or 0))


def live_answer(raw: bytes | None, now_ms: int) -> bytes | None:
    """An entry's answer, unless it expired by `now_ms` (an entry is `<expires ms>|<answer>`)."""
    if raw is None:
        return None
    expires, _, answer = raw.partition(b"|")
    return answer if int(expires) > now_ms else None
