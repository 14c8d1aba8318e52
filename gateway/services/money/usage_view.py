"""Reading current window usage for the operator and account APIs (not on the hot path)."""

from __future__ import annotations

from typing import Any

from billing.money.answers import rfc3339
from billing.money.quotas import Quota
from gateway.stores.ports import HotStorePort

SCOPE_NAMES = {"k": "key", "t": "team", "a": "account"}


async def window_usage(
    store: HotStorePort, shard: int, scope: str, owner_id: str, quotas: tuple[Quota, ...]
) -> list[dict[str, Any]]:
    counts = await store.window_counts(shard, scope, owner_id, quotas)
    return [
        {
            "scope": SCOPE_NAMES.get(scope, "account"),
            "window": q.window,
            "metric": q.metric,
            "limit": q.limit,
            "used": c.used,
            "remaining": max(0, q.limit - c.used),
            "resets_at": None if c.resets_at_ms is None else rfc3339(c.resets_at_ms),
        }
        for q, c in zip(quotas, counts, strict=True)
    ]
