"""Writing Redis from the ledger (`meterway rebuild`, and `serve` restoring an empty Redis).

What a rebuild must know about the Redis it writes into (ready markers, open reservations,
settlements still queued) and every write it makes live here, so gateway/ops/ talks to Redis
only through the stores. Streams and reservation hashes are read in pages (XRANGE / HSCAN
with COUNT), never the whole backlog in one reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.stores.meter_records import ServiceRecord
from gateway.stores.ports.repair import Liveness
from gateway.stores.records import ClosedMarker
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import SHARDS, shard_of
from gateway.stores.redis.records import encode_service
from gateway.stores.redis.stream import stream_entries
from gateway.stores.redis.wire.scripts import load_script
from gateway.stores.stream_fields import readable_cost

PAGE = 1000


class HotRestore:
    def __init__(self, store: HotStore, page: int = PAGE) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.page = page
        self._held = load_script(store.redis, "held")

    async def liveness(self) -> Liveness:
        k = self.keys
        with map_redis_errors():
            ready = await self.redis.exists(*[k.ready(s) for s in range(SHARDS)])
            async with self.redis.pipeline(transaction=False) as pipe:
                for s in range(SHARDS):
                    pipe.hlen(k.reservations(s))
                open_counts = await pipe.execute()
        return Liveness(int(ready), sum(int(n) for n in open_counts))

    async def queued_costs(self) -> dict[str, int]:
        """Cost per account of settlements taken from Redis balances and not yet in the
        ledger: those queued in the streams and those parked in the dead-letter streams
        (a parked debit is still owed; giving it back would make the call free)."""
        out: dict[str, int] = {}
        for shard in range(SHARDS):
            for stream in (self.keys.stream(shard), self.keys.dead_letters(shard)):
                async for _, fields in stream_entries(self.redis, stream, page=self.page):
                    owed = readable_cost(fields)
                    if owed is not None:
                        out[owed[0]] = out.get(owed[0], 0) + owed[1]
        return out

    async def set_balance(self, account_id: str, balance: int, credit_ids: Sequence[int]) -> None:
        """Offline only (nothing serving): the balance, nothing held, and every ledger
        credit marked applied so a late retry of one cannot apply it again."""
        s = shard_of(account_id)
        with map_redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.keys.account(s, account_id), mapping={"bal": balance, "held": 0})
                pipe.hincrby(self.keys.account(s, account_id), "seq", 1)
                if credit_ids:
                    pipe.sadd(self.keys.credits(s, account_id), *credit_ids)
                await pipe.execute()

    async def restore_held(self, account_id: str) -> int:
        """`held` := what the account's open reservations hold (held.lua, atomic)."""
        s = shard_of(account_id)
        keys = (self.keys.account(s, account_id), self.keys.reservations(s))
        with map_redis_errors():
            return int(await self._held(keys, (account_id,)))

    async def put_services(self, services: Iterable[tuple[str, ServiceRecord | None]]) -> int:
        """The service-key directory: (key hash, record), or None for a revoked key."""
        count = 0
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for key_hash, record in services:
                    if record is None:
                        pipe.delete(self.keys.service(key_hash))
                    else:
                        pipe.set(self.keys.service(key_hash), encode_service(record))
                        count += 1
                await pipe.execute()
        return count

    async def put_closed(self, markers: Iterable[ClosedMarker]) -> int:
        """Closed markers of metered ids, so a settled or voided id is never reserved again."""
        count = 0
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for m in markers:
                    name = self.keys.closed(shard_of(m.account_id), m.request_id)
                    pipe.set(name, f"{m.kind}|{m.quantity}|{m.cost_micros}", px=m.ttl_ms)
                    count += 1
                await pipe.execute()
        return count
