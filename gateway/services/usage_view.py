"""Reading current window usage for the operator and account APIs (not on the hot path)."""

from __future__ import annotations

from typing import Any

from billing.answers import rfc3339
from billing.quotas import METRIC_CODES, Quota
from billing.windows import SLIDING_MS, WINDOW_CODE, calendar_period, sliding_granules
from gateway.stores.redis.hotstore import HotStore


async def window_usage(
    store: HotStore, shard: int, scope: str, owner_id: str, quotas: tuple[Quota, ...]
) -> list[dict[str, Any]]:
    now = await store.now_ms()
    offset = int(store.tz_offset_ms())
    base = store.keys.counters(shard)
    resets: list[int | None] = []
    async with store.redis.pipeline(transaction=False) as pipe:
        for q in quotas:
            name = f"{base}{scope}:{owner_id}:{WINDOW_CODE[q.window]}:{METRIC_CODES[q.metric]}"
            if q.window in SLIDING_MS:
                fields, reset = sliding_granules(q.window, now)
                pipe.hmget(name, fields)
            else:
                pid, calendar_reset = calendar_period(q.window, now, offset)
                reset = -1 if calendar_reset is None else calendar_reset
                pipe.get(f"{name}:{pid}")
            resets.append(None if reset < 0 else reset)
        replies = await pipe.execute()
    out = []
    for q, reply, reset_at in zip(quotas, replies, resets, strict=True):
        used = sum(int(v or 0) for v in reply) if isinstance(reply, list) else int(reply or 0)
        out.append(
            {
                "scope": "key" if scope == "k" else "account",
                "window": q.window,
                "metric": q.metric,
                "limit": q.limit,
                "used": used,
                "remaining": max(0, q.limit - used),
                "resets_at": None if reset_at is None else rfc3339(reset_at),
            }
        )
    return out
