"""Idempotency keys' first uses in PostgreSQL (migration 050): one row per (account, key).

A claim is one INSERT ... ON CONFLICT DO NOTHING; two concurrent claims of one key queue on
its unique index, so exactly one records its use and the other reads it."""

from __future__ import annotations

import asyncpg

from gateway.stores.audit_records import FirstUse
from gateway.stores.errors import StoreError
from gateway.stores.postgres.errors import map_postgres_errors

_CLAIM = """
WITH won AS (
    INSERT INTO idempotency_keys (account_id, idempotency_key, operation, fingerprint, summary)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1
)
SELECT operation, fingerprint, summary, false AS won FROM idempotency_keys
WHERE account_id = $1 AND idempotency_key = $2 AND NOT EXISTS (SELECT 1 FROM won)
UNION ALL SELECT '', '', '', true FROM won
"""


class Idempotency:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, account_id: str, key: str, use: FirstUse) -> FirstUse | None:
        args = (account_id, key, use.operation, use.fingerprint, use.summary)
        for _ in range(3):
            with map_postgres_errors():
                row = await self.pool.fetchrow(_CLAIM, *args)
            if row is not None:
                break
            # None: a concurrent claim committed after this statement's snapshot was taken.
        else:
            raise StoreError(f"idempotency key {key!r} could not be claimed")
        if row["won"]:
            return None
        return FirstUse(row["operation"], row["fingerprint"], row["summary"])

    async def release(self, account_id: str, key: str, fingerprint: str) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "DELETE FROM idempotency_keys"
                " WHERE account_id = $1 AND idempotency_key = $2 AND fingerprint = $3",
                account_id,
                key,
                fingerprint,
            )
