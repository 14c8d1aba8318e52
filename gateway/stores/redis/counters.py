"""Reading quota window counters as reserve.lua writes them (not on the hot path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from billing.money.quotas import Quota
from billing.money.windows import SLIDING_MS, calendar_period, sliding_granules, sliding_reset
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
                pipe.hmget(name, sliding_granules(q.window, now_ms)[0])
                resets.append(None)  # from the granules read
            else:
                period, calendar_reset = calendar_period(q.window, now_ms, offset_ms)
                pipe.get(Keys.period_counter(name, period))
                resets.append(calendar_reset)
        replies = await pipe.execute()
    return [
        _count(q, reply, reset, now_ms)
        for q, reply, reset in zip(quotas, replies, resets, strict=True)
    ]


def _count(q: Quota, reply: Any, calendar_reset: int | None, now_ms: int) -> WindowCount:
    """HMGET of granules (a list) or GET of a period counter (bytes or None)."""
    if isinstance(reply, list):
        granules = [int(v or 0) for v in reply]
        return WindowCount(sum(granules), sliding_reset(q.window, now_ms, granules, q.limit))
    return WindowCount(int(reply or 0), calendar_reset)
