"""Recomputing the live quota counters from ledger debits (used by `meterway rebuild`).

Counters are named by `Keys.counter` (and `Keys.period_counter` for calendar windows), as
reserve.lua names them, while sliding windows are hashes whose fields are
granule indexes. Ledger rows carry the settle instant, not the reserve instant, so a call
that straddled a boundary counts in the later period; voids and releases count nothing,
as in Redis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from billing.plans import PlanBook
from billing.quotas import Quota, metric_code, parse_quotas
from billing.windows import DAY_MS, SLIDING_MS, calendar_period, granule_ms, window_start
from gateway.stores.connect import Stores
from gateway.stores.redis.keys import Keys, shard_of

# Per-metric sums of the debit rows, in reserve.lua's metric codes.
_SUMS = (
    "(count(*) FILTER (WHERE meter IS NULL)) AS r,"
    " sum(input_tokens + cached_input_tokens + cache_write_tokens)::bigint AS i,"
    " sum(output_tokens)::bigint AS o,"
    " sum(input_tokens + cached_input_tokens + cache_write_tokens + output_tokens)::bigint AS t,"
    " (-sum(amount_micros))::bigint AS s"
)
_SCOPE_COLUMN = {"a": "account_id", "k": "key_id"}
Usage = dict[tuple[str, int], dict[str, int]]  # (id, bucket) -> metric code -> amount


@dataclass(frozen=True, slots=True)
class Governed:
    """Who a quota governs: scope 'a' (account) or 'k' (key), its id and account."""

    scope: str
    id: str
    account_id: str
    quota: Quota


async def _usage(pool: asyncpg.Pool, scope: str, window: str, start: int | None) -> Usage:
    column = _SCOPE_COLUMN[scope]
    bucket = "0"
    if window in SLIDING_MS:
        g = granule_ms(window)
        bucket = f"floor(extract(epoch FROM occurred_at) * 1000 / {g})::bigint"
    rows = await pool.fetch(
        f"SELECT {column} AS id, {bucket} AS b, {_SUMS} FROM ledger_entries"
        f" WHERE kind = 'debit' AND {column} IS NOT NULL"
        " AND ($1::timestamptz IS NULL OR occurred_at >= $1)"
        f" GROUP BY {column}, b",
        None if start is None else datetime.fromtimestamp(start / 1000, UTC),
    )
    usage: Usage = {(r["id"], int(r["b"])): {m: int(r[m] or 0) for m in "riots"} for r in rows}
    metered = await pool.fetch(
        f"SELECT {column} AS id, {bucket} AS b, meter, sum(quantity)::bigint AS q"
        " FROM ledger_entries WHERE kind = 'debit' AND meter IS NOT NULL"
        f" AND {column} IS NOT NULL AND ($1::timestamptz IS NULL OR occurred_at >= $1)"
        f" GROUP BY {column}, b, meter",
        None if start is None else datetime.fromtimestamp(start / 1000, UTC),
    )
    for r in metered:  # a meter's quota code is "m.<name>" (billing.quotas.metric_code)
        usage.setdefault((r["id"], int(r["b"])), {})["m." + r["meter"]] = int(r["q"] or 0)
    return usage


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


async def rebuild_windows(stores: Stores, plans: PlanBook, *, only_missing: bool = False) -> int:
    """Rewrite the counter of every quota of every account and key (`only_missing`: write
    only counters Redis lacks, for a live Redis); returns how many."""
    store, pool = stores.store, stores.pool
    now, offset = await store.now_ms(), int(store.tz_offset_ms())
    governed = await _governed(pool, plans)
    needed = {(g.scope, g.quota.window) for g in governed}
    usage: Mapping[tuple[str, str], Usage] = {
        (scope, w): await _usage(pool, scope, w, window_start(w, now, offset))
        for scope, w in sorted(needed)
    }
    written = 0
    async with store.redis.pipeline(transaction=False) as pipe:
        for g in governed:
            clock = (now, offset, only_missing)
            written += _write(pipe, store.keys, g, usage[(g.scope, g.quota.window)], clock)
        await pipe.execute()
    return written
