"""What `meterway rebuild` reads from PostgreSQL to restore Redis: accounts, keys and the
credit entries Redis applies by id."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row


async def accounts(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM accounts ORDER BY id")]


async def api_keys(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM api_keys ORDER BY id")]


async def credit_ids(pool: asyncpg.Pool) -> dict[str, list[int]]:
    """Per account, the ledger entries Redis applies by id (credit.lua): those without a
    request id (credits, refunds); settlements reach Redis first and carry one."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT account_id, array_agg(id ORDER BY id) AS ids FROM ledger_entries"
            " WHERE request_id IS NULL GROUP BY account_id"
        )
    return {r["account_id"]: list(r["ids"]) for r in rows}
