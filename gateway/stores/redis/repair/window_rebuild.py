"""Recomputing the live quota counters from ledger debits (used by `meterway rebuild`).

Counters are named by `Keys.counter` (and `Keys.period_counter` for calendar windows), as
reserve.lua names them, while sliding windows are hashes whose fields are
granule indexes. Ledger rows carry the settle instant, not the reserve instant, so a call
that straddled a boundary counts in the later period; voids and releases count nothing,
as in Redis. A `total` window also counts what retention archived of the months it
detached (`stores/postgres/money/window_usage.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from billing.money.plans import PlanBook
from billing.money.quotas import Quota, metric_code, parse_quotas
from billing.money.windows import DAY_MS, SLIDING_MS, calendar_period, granule_ms, window_start
from gateway.stores.postgres.money.window_usage import Usage, window_usage
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import Keys, shard_of


@dataclass(frozen=True, slots=True)
class Governed:
    """Who a quota governs: scope 'a' (account) or 'k' (key), its id and account."""

    scope: str
    id: str
    account_id: str
    quota: Quota


async def _governed(pool: asyncpg.Pool, plans: PlanBook) -> list[Governed]:
    out: list[Governed] = []
    for row in await pool.fetch("SELECT id, plan FROM accounts"):
        plan = plans.get(row["plan"])
        for q in plan.quotas if plan else ():
            out.append(Governed("a", row["id"], row["id"], q))
    for row in await pool.fetch(
        "SELECT id, account_id, quotas FROM api_keys WHERE quotas <> '[]'::jsonb"
    ):
        raw = row["quotas"]
        for q in parse_quotas(json.loads(raw) if isinstance(raw, str) else raw):
            out.append(Governed("k", row["id"], row["account_id"], q))
    return out


def _write(
    pipe: aioredis.client.Pipeline,
    keys: Keys,
    g: Governed,
    usage: Usage,
    clock: tuple[int, int, bool],
) -> int:
    """`clock` is (now ms, zone offset ms, only missing): on a live Redis a counter holds
    the amounts of open reservations too, so an existing counter (or granule) is kept."""
    now_ms, offset_ms, only_missing = clock
    w, m = g.quota.window, metric_code(g.quota.metric)
    base = keys.counter(shard_of(g.account_id), g.scope, g.id, g.quota.code)
    if w in SLIDING_MS:
        granules: dict[Any, Any] = {
            str(b): u[m] for (i, b), u in usage.items() if i == g.id and u.get(m)
        }
        if not only_missing:
            pipe.delete(base)
        if granules:
            span = SLIDING_MS[w] + 2 * granule_ms(w)
            for field, amount in granules.items():
                pipe.hsetnx(base, field, amount)
            pipe.pexpire(base, span)
        return 1 if granules else 0
    period, reset = calendar_period(w, now_ms, offset_ms)
    amount = usage.get((g.id, 0), {}).get(m, 0)
    name = Keys.period_counter(base, period)
    pipe.set(name, amount, nx=only_missing)
    if reset is not None:
        pipe.pexpireat(name, reset + DAY_MS)
    return 1


async def rebuild_windows(
    store: HotStore, pool: asyncpg.Pool, plans: PlanBook, *, only_missing: bool = False
) -> int:
    """Rewrite the counter of every quota of every account and key (`only_missing`: write
    only counters Redis lacks, for a live Redis); returns how many."""
    now, offset = await store.now_ms(), int(store.tz_offset_ms())
    governed = await _governed(pool, plans)
    needed = {(g.scope, g.quota.window) for g in governed}
    usage: Mapping[tuple[str, str], Usage] = {
        (scope, w): await window_usage(pool, scope, w, window_start(w, now, offset))
        for scope, w in sorted(needed)
    }
    written = 0
    async with store.redis.pipeline(transaction=False) as pipe:
        for g in governed:
            clock = (now, offset, only_missing)
            written += _write(pipe, store.keys, g, usage[(g.scope, g.quota.window)], clock)
        await pipe.execute()
    return written
