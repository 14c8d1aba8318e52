"""Reading quota window counters as reserve.lua writes them (not on the hot path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from billing.quotas import Quota
from billing.windows import SLIDING_MS, calendar_period, sliding_granules
from gateway.stores.records import WindowCount
from gateway.stores.redis.keys import Keys


async def window_counts(
    client: aioredis.Redis,
    keys: Keys,
    where: tuple[int, str, str],
    quotas: Sequence[Quota],
    now_ms: int,
    offset_ms: int,
) -> list[WindowCount]:
    """`where` is (shard, scope 'a'|'k', owner id): one pipeline for every window."""
    shard, scope, owner_id = where
    resets: list[int | None] = []
    async with client.pipeline(transaction=False) as pipe:
        for q in quotas:
            name = keys.counter(shard, scope, owner_id, q.code)
            if q.window in SLIDING_MS:
                fields, reset = sliding_granules(q.window, now_ms)
                pipe.hmget(name, fields)
                resets.append(reset)
            else:
                period, calendar_reset = calendar_period(q.window, now_ms, offset_ms)
                pipe.get(Keys.period_counter(name, period))
                resets.append(calendar_reset)
        replies = await pipe.execute()
    return [WindowCount(_used(reply), reset) for reply, reset in zip(replies, resets, strict=True)]


def _used(reply: Any) -> int:
    """HMGET of granules (a list) or GET of a period counter (bytes or None)."""
    if isinstance(reply, list):
        return sum(int(v or 0) for v in reply)
    return int(reply or 0)
