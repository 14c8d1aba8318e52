"""The hot store's base: the clients, the clock, and what readiness, the sweeper and /metrics
read (ready markers, reservation deadlines, the settlement backlog). `HotStore` builds on it
through `HotRecords`; these are one object, split so each module keeps one kind of work.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from gateway.stores.records import Backlog
from gateway.stores.redis import stream
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import SHARDS, Keys
from gateway.stores.redis.records import decode_reservation
from gateway.stores.redis.wire.resp import ScriptWire


class HotUpkeep:
    """Set up by `HotStore.__init__`; every method runs inside `map_redis_errors`."""

    redis: aioredis.Redis
    wire: ScriptWire | None
    keys: Keys
    _zone: ZoneInfo
    _clock: str  # "1": the test clock's offset (keys.clock(0)) is added to Redis's time
    _tz_cache: tuple[int, str]

    def tz_offset_ms(self) -> str:
        """UTC offset of the quota zone, recomputed once a minute (DST moves it)."""
        minute = int(time.time() // 60)
        if self._tz_cache[0] != minute:
            delta = datetime.now(self._zone).utcoffset()
            offset = int(delta.total_seconds() * 1000) if delta else 0
            self._tz_cache = (minute, str(offset))
        return self._tz_cache[1]

    async def _command(self, *args: Any) -> Any:
        """A single-key read on the hot path: the lean client's costs a fraction of redis-py's."""
        if self.wire is not None:
            return await self.wire.execute(*args)
        return await cast(Any, self.redis).execute_command(*args)

    async def now_ms(self) -> int:
        with map_redis_errors():
            sec, usec = await self.redis.time()
            offset = 0
            if self._clock == "1":
                offset = int(await self.redis.get(self.keys.clock(0)) or 0)
        return int(sec) * 1000 + int(usec) // 1000 + offset

    async def expired_reservations(self, now_ms: int, limit: int) -> dict[int, list[str]]:
        """Per shard, the request ids whose reservation deadline is at or before now_ms,
        oldest first, at most `limit` each: every shard read in one pipeline."""
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for shard in range(SHARDS):
                    pipe.zrangebyscore(
                        self.keys.deadlines(shard), "-inf", now_ms, start=0, num=limit
                    )
                replies = await pipe.execute()
        return {
            shard: [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
            for shard, raw in enumerate(replies)
            if raw
        }

    async def forget_deadline(self, shard: int, request_id: str) -> None:
        """Drop a deadline whose reservation is already gone."""
        with map_redis_errors():
            await self.redis.zrem(self.keys.deadlines(shard), request_id)

    async def reservation_account(self, shard: int, request_id: str) -> str | None:
        with map_redis_errors():
            raw = await self.redis.hget(self.keys.reservations(shard), request_id)
        return None if raw is None else decode_reservation(raw).account_id

    async def consistent(self) -> bool:
        with map_redis_errors():
            ready = await self.redis.exists(*[self.keys.ready(s) for s in range(SHARDS)])
        return int(ready) == SHARDS

    async def mark_ready(self) -> None:
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for s in range(SHARDS):
                    pipe.set(self.keys.ready(s), "1")
                await pipe.execute()

    async def backlog(self) -> Backlog:
        with map_redis_errors():
            return await stream.backlog(self.redis, self.keys)

    async def dead_letter_count(self) -> int:
        with map_redis_errors():
            return await stream.parked_count(self.redis, self.keys)

    async def settled_total(self) -> int:
        with map_redis_errors():
            return await stream.written_total(self.redis, self.keys)
