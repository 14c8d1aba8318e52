"""Which accounts asked for each call's signed receipt on its answer (migration 098): read
whole by every gateway process on a clock (services/proof/receipt_header.py), never per request."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors

_OPTED_IN = "SELECT id FROM accounts WHERE receipt_header"
_SET = "UPDATE accounts SET receipt_header = $2 WHERE id = $1"


class ReceiptHeaders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def opted_in(self) -> frozenset[str]:
        with map_postgres_errors():
            rows = await self.pool.fetch(_OPTED_IN)
        return frozenset(r["id"] for r in rows)

    async def set_receipt_header(self, account_id: str, enabled: bool) -> bool:
        with map_postgres_errors():
            done = await self.pool.execute(_SET, account_id, enabled)
        return bool(done.endswith(" 1"))
