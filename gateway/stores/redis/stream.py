"""Reading the settlement streams' length and age, how many messages are parked in the
dead-letter streams, and the settlers' written counter."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import redis.asyncio as aioredis

from gateway.stores.records import Backlog
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import SHARDS, Keys

PAGE = 1000


def text_of(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def backlog(client: aioredis.Redis, keys: Keys) -> Backlog:
    async with client.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.xlen(keys.stream(shard))
            pipe.xrange(keys.stream(shard), count=1)
        replies = await pipe.execute()
    length = sum(int(n) for n in replies[0::2])
    oldest = [int(text_of(r[0][0]).split("-")[0]) for r in replies[1::2] if r]
    age = int(time.time() * 1000) - min(oldest) if oldest else 0
    return Backlog(length, max(age, 0))


async def written_total(client: aioredis.Redis, keys: Keys) -> int:
    return int(await client.get(keys.settled_stat()) or 0)


async def parked_count(client: aioredis.Redis, keys: Keys) -> int:
    async with client.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.xlen(keys.dead_letters(shard))
        return sum(int(n) for n in await pipe.execute())


async def stream_entries(
    client: aioredis.Redis, stream: str, end: str = "+", page: int = PAGE
) -> AsyncIterator[tuple[str, Mapping[Any, Any]]]:
    """Every (id, fields) of a stream up to `end`, read in pages (XRANGE with COUNT), never
    the whole stream in one reply; entries deleted under the read are skipped."""
    start = "-"
    while True:
        with map_redis_errors():
            batch = await client.xrange(stream, start, end, count=page) or []
        for msg_id, fields in batch:
            start = "(" + text_of(msg_id)
            if fields:
                yield text_of(msg_id), fields
        if len(batch) < page:
            return
