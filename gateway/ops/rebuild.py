"""Restoring Redis from the ledger, and checking the two agree.

rebuild: balances (ledger balance, nothing held), accounts, keys and the current quota
windows are recomputed from PostgreSQL, then the per-shard ready markers are set; until
then the reserve script refuses billable work. reconcile: Redis balance plus settlements
still queued must equal the ledger balance for every account.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from billing.plans import PlanBook
from billing.quotas import parse_quotas
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import SHARDS, shard_of
from gateway.stores.redis.window_rebuild import rebuild_windows
from gateway.stores.stream_fields import queued_cost


async def sync_plans(stores: Stores, plans: PlanBook) -> int:
    """Re-apply every account's plan (limits, mode) to Redis after config/plans.toml changed.

    Safe while serving: it rewrites the plan fields of each account's hot record and never
    touches balances, holds or window counters. Returns the number of accounts updated.
    """
    rows = await stores.pool.fetch("SELECT id, plan, mode, billing_ready FROM accounts")
    for row in rows:
        plan = plans.get(row["plan"])
        await stores.store.put_account(
            row["id"],
            plan=row["plan"],
            mode=row["mode"],
            billing_ready=row["billing_ready"],
            quotas=plan.quotas if plan else (),
        )
    return len(rows)


async def rebuild(stores: Stores, plans: PlanBook) -> dict[str, int]:
    """Idempotent. Run it with no gateway serving (open reservations are forgotten) and no
    settler running; settlements still queued in Redis are subtracted from the ledger balance."""
    store, pool = stores.store, stores.pool
    queued = await queued_costs(stores)  # already taken from Redis, not yet in the ledger
    accounts = await pool.fetch("SELECT * FROM accounts")
    for row in accounts:
        plan = plans.get(row["plan"])
        quotas = plan.quotas if plan else ()
        shard = shard_of(row["id"])
        name = store.keys.account(shard, row["id"])
        bal = row["balance_micros"] - queued.get(row["id"], 0)
        await store.redis.hset(name, mapping={"bal": bal, "held": 0})
        await store.put_account(
            row["id"],
            plan=row["plan"],
            mode=row["mode"],
            billing_ready=row["billing_ready"],
            quotas=quotas,
        )
        credits = await pool.fetch(
            "SELECT id FROM ledger_entries WHERE account_id = $1 AND kind = 'credit'", row["id"]
        )
        if credits:
            await store.redis.sadd(
                store.keys.credits(shard, row["id"]), *[c["id"] for c in credits]
            )
    keys = await pool.fetch("SELECT * FROM api_keys")
    for k in keys:
        record = KeyRecord(
            k["id"],
            k["account_id"],
            shard_of(k["account_id"]),
            k["name"],
            tuple(k["scopes"]),
            tuple(k["models"]),
            k["on_insufficient"],
        )
        expires = int(k["expires_at"].timestamp() * 1000) if k["expires_at"] else 0
        await store.put_key(
            record,
            k["key_hash"],
            active=k["revoked_at"] is None,
            expires_at_ms=expires,
            quotas=parse_quotas(json.loads(k["quotas"])),
        )
    windows = await rebuild_windows(stores, plans)
    await store.mark_ready()
    return {"accounts": len(accounts), "keys": len(keys), "window_counters": windows}


@dataclass(frozen=True)
class Drift:
    account_id: str
    ledger_micros: int
    redis_micros: int | None
    queued_micros: int

    @property
    def expected_redis(self) -> int:
        return self.ledger_micros - self.queued_micros


async def queued_costs(stores: Stores) -> dict[str, int]:
    """Cost per account of settlements in the streams not yet written to the ledger."""
    out: dict[str, int] = {}
    for shard in range(SHARDS):
        for _id, fields in await stores.redis.xrange(stores.store.keys.stream(shard)) or []:
            if fields:
                account, cost = queued_cost(fields)
                out[account] = out.get(account, 0) + cost
    return out


async def _compare(stores: Stores, only: set[str] | None) -> list[Drift]:
    queued = await queued_costs(stores)
    drifts = []
    for row in await stores.pool.fetch(
        "SELECT a.id, coalesce(sum(l.amount_micros), 0)::bigint AS total FROM accounts a"
        " LEFT JOIN ledger_entries l ON l.account_id = a.id"
        " WHERE $1::text[] IS NULL OR a.id = ANY($1::text[]) GROUP BY a.id",
        None if only is None else sorted(only),
    ):
        hot = await stores.store.balance(row["id"])
        d = Drift(
            row["id"], row["total"], None if hot is None else hot[0], queued.get(row["id"], 0)
        )
        if d.redis_micros != d.expected_redis:
            drifts.append(d)
    return drifts


async def reconcile(
    stores: Stores, repair: bool = False, rechecks: int = 3, pause_s: float = 0.5
) -> list[Drift]:
    """Accounts whose Redis balance + queued settlements differ from the ledger.

    A settler committing, or a credit between its ledger write and its Redis apply, looks
    like drift for a moment; an account is reported only if it still drifts after rechecks.
    """
    drifts = await _compare(stores, None)
    for _ in range(rechecks):
        if not drifts:
            break
        await asyncio.sleep(pause_s)
        drifts = await _compare(stores, {d.account_id for d in drifts})
    if repair:
        for d in drifts:
            shard = shard_of(d.account_id)
            await stores.redis.hset(
                stores.store.keys.account(shard, d.account_id), "bal", d.expected_redis
            )
    return drifts
