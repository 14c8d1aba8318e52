"""What the ledger says an account's balance is, for reconcile and its repair.

Two kinds of entry reach the hot balance by two roads: settlements (a request id) were taken
from Redis first and reach the ledger through the stream; credits (no request id) are
written here first and applied to Redis by entry id (credit.lua's applied set).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors

# ledger_kind_sums adds what `meterway ledger retention` archived to the live entries.
_TOTALS = (
    "SELECT a.id, coalesce(sum(l.amount_micros), 0)::bigint AS total FROM accounts a"
    " LEFT JOIN ledger_kind_sums l ON l.account_id = a.id"
    " AND ($1::text[] IS NULL OR l.account_id = ANY($1::text[]))"
    " WHERE $1::text[] IS NULL OR a.id = ANY($1::text[]) GROUP BY a.id"
)


async def ledger_totals(pool: asyncpg.Pool, only: Sequence[str] | None = None) -> dict[str, int]:
    """Every account's ledger balance (the sum of its entries, archived months included),
    or only these accounts'."""
    with map_postgres_errors():
        rows = await pool.fetch(_TOTALS, None if only is None else sorted(only))
    return {r["id"]: int(r["total"]) for r in rows}


async def ledger_position(
    pool: asyncpg.Pool, account_id: str, queued: Collection[tuple[str, str]]
) -> tuple[int, list[tuple[int, int, float]]]:
    """(the account's ledger balance leaving out the `queued` settlements (request id,
    kind) already written, [(entry id, amount, age in seconds) of every credit-like
    entry]), read in one snapshot: a queued settlement the settler just wrote is counted
    once, as queued."""
    rids = sorted({rid for rid, _ in queued})
    with map_postgres_errors():
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            total = await conn.fetchval(
                "SELECT coalesce(sum(amount_micros), 0)::bigint FROM ledger_kind_sums"
                " WHERE account_id = $1",
                account_id,
            )
            written = await conn.fetch(
                "SELECT request_id, kind, amount_micros FROM ledger_entries"
                " WHERE account_id = $1 AND request_id = ANY($2::text[])",
                account_id,
                rids,
            )
            credits = await conn.fetch(
                "SELECT id, amount_micros,"
                " extract(epoch FROM now() - created_at)::float8 AS age FROM ledger_entries"
                " WHERE account_id = $1 AND request_id IS NULL ORDER BY id",
                account_id,
            )
    pairs = set(queued)
    counted = sum(r["amount_micros"] for r in written if (r["request_id"], r["kind"]) in pairs)
    return int(total) - counted, [(r["id"], int(r["amount_micros"]), r["age"]) for r in credits]
