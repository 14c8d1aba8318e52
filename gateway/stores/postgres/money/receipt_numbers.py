"""Receipts' numbers (migration 070): one sequence, a payment's number given once, on first
asking, and read back ever after."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors

_GIVE = """
WITH given AS (
    INSERT INTO receipt_numbers_given (payment_id, account_id) VALUES ($1, $2)
    ON CONFLICT (payment_id) DO NOTHING RETURNING number
)
SELECT number FROM given
UNION ALL SELECT number FROM receipt_numbers_given WHERE payment_id = $1
LIMIT 1
"""

_READ = "SELECT number FROM receipt_numbers_given WHERE payment_id = $1"


class ReceiptNumbers:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def number(self, account_id: str, payment_id: str) -> int:
        """The payment's receipt number, given now when it has none. (A racing first asking
        commits its number after this statement's snapshot: read once more.)"""
        with map_postgres_errors():
            found = await self.pool.fetchval(_GIVE, payment_id, account_id)
            if found is None:
                found = await self.pool.fetchval(_READ, payment_id)
        return int(found)

    async def numbers(self, payment_ids: list[str]) -> dict[str, int]:
        """The numbers already given to these payments (none is given here)."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT payment_id, number FROM receipt_numbers_given WHERE payment_id = ANY($1)",
                payment_ids,
            )
        return {r["payment_id"]: int(r["number"]) for r in rows}
