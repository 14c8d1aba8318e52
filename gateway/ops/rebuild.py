"""Restoring Redis from the ledger, and checking the two agree.

rebuild: balances (ledger balance, nothing held), accounts, keys and the current quota
windows are recomputed from PostgreSQL, then the per-shard ready markers are set; until
then the reserve script refuses billable work. reconcile: Redis balance plus settlements
still queued must equal the ledger balance for every account.
"""

from __future__ import annotations

import json

from billing.plans import PlanBook
from billing.quotas import parse_quotas
from gateway.ops.reconcile import Drift, queued_costs, reconcile
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.window_rebuild import rebuild_windows

__all__ = ["Drift", "queued_costs", "rebuild", "reconcile", "sync_plans"]  # reconcile moved


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
