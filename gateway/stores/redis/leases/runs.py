"""The lease scripts' calls (stores/redis/leases/process.py keeps the leases; this module only talks
to Redis for them): lease_apply.lua over one lease (apply a batch, trim, close), the
sweeper's close of a dead process's lease, and lease_settle.lua's second try of an append.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.records import decode_reservation
from gateway.stores.redis.wire.scripts import load_script

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

log = logging.getLogger("meterway.leases")
GONE = 2  # lease_apply.lua's fourth reply value: no such lease
APPLY_BATCH = 1000
SEEN_TTL_MS = 3_600_000  # a lease's applied request ids, kept for late retries


class LeaseRuns:
    def __init__(self, store: HotCore) -> None:
        self.store = store
        self._apply = load_script(store.redis, "lease_apply", store.wire)
        self._settle_again = load_script(store.redis, "lease_settle", store.wire)
        self.scripts = 0  # script calls made (for the benches and the tests)

    async def apply(
        self,
        shard: int,
        lease_id: str,
        account_id: str | None,
        mode: str,
        counters: tuple[str, ...] = (),
        trim: tuple[int, ...] = (),
    ) -> list[Any]:
        """lease_apply.lua over one lease: its four counts, then the request ids taken off
        its stream. `account_id` None: read from its record (another process's lease); a
        counter the record holds that `counters` lacks: read from the record too."""
        if account_id is None:
            record = await self._record(shard, lease_id)
            if record is None:
                return [0, 0, 0, GONE]
            account_id, counters = record
        k = self.store.keys
        fixed = (
            k.reservations(shard),
            k.deadlines(shard),
            k.account(shard, account_id),
            k.stream(shard),
            k.lease_stream(shard, lease_id),
            k.lease_seen(shard, lease_id),
            k.clock(shard),
        )
        batch = "" if mode == "close" else APPLY_BATCH
        self.scripts += 1
        args = (lease_id, mode, batch, SEEN_TTL_MS, self.store.clock_flag, *trim)
        reply = list(await self.store.call(self._apply, fixed + counters, args))
        if reply[0] == -1:
            record = await self._record(shard, lease_id)
            counters = record[1] if record is not None else ()
            self.scripts += 1
            reply = list(await self.store.call(self._apply, fixed + counters, args))
        if reply[0] == -1:
            raise HotStoreUnavailable(f"lease {lease_id} holds undeclared counters")
        if reply[1]:
            log.warning("lease %s: %d micros its calls cost uncollected", lease_id, reply[1])
        return reply

    async def close_expired(self, shard: int, lease_id: str) -> bool:
        """The sweeper's close of a lease whose process stopped extending it: what it
        appended applied, the rest given back; False when it was closed already."""
        reply = await self.apply(shard, lease_id, None, "close")
        return int(reply[3]) == 1

    async def append_again(
        self, shard: int, lease_id: str, stream: str, seen: str, request_id: str, entry: str
    ) -> bool:
        """lease_settle.lua: appended unless applied or waiting; False when the lease is
        closed without it."""
        keys = (self.store.keys.reservations(shard), stream, seen)
        self.scripts += 1
        return bool(await self.store.call(self._settle_again, keys, (lease_id, request_id, entry)))

    async def _record(self, shard: int, lease_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The lease's account and counters, from its record in the reservations hash."""
        with map_redis_errors():
            raw = await self.store.redis.hget(self.store.keys.reservations(shard), lease_id)
        if raw is None:
            return None
        record = decode_reservation(raw)
        return record.account_id, tuple(c.name for c in record.counters)
