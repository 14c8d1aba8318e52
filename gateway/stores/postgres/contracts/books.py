"""Price books' facts in the ledger (ports/books.py): a plan's accounts, the last days' usage
of the accounts a book change reaches, identical usages grouped."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_PLANS = "SELECT id, plan FROM accounts WHERE plan = ANY($1::text[])"
_USAGE = """
SELECT account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, reasoning_tokens, usage_detail, count(*) AS calls
FROM ledger_entries
WHERE kind = 'debit' AND account_id = ANY($1::text[]) AND occurred_at >= $2
  AND model IS NOT NULL
GROUP BY account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
         output_tokens, reasoning_tokens, usage_detail
"""


class Books:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def plan_accounts(self, plans: list[str]) -> dict[str, str]:
        """Every account on one of `plans`, with its plan."""
        with map_postgres_errors():
            records = await self.pool.fetch(_PLANS, plans)
        return {r["id"]: r["plan"] for r in records}

    async def usage_of(self, account_ids: list[str], since: datetime) -> list[Row]:
        """The debits of `account_ids` since `since`, grouped by account, model and usage."""
        with map_postgres_errors():
            records = await self.pool.fetch(_USAGE, account_ids, since)
        return [dict(r) for r in records]
