"""End-user budgets in PostgreSQL (`end_user_budgets`, migration 041): the durable copy of
what the reserve script reads from Redis, and what `rebuild` writes back."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from billing.money.quotas import Quota, quota_to_json
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_COLUMNS = "account_id, key_id, end_user, quotas, updated_at"


class EndUserBudgets:
    """Implements `stores.ports.EndUserBudgetsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(
        self, account_id: str, key_id: str, end_user: str, quotas: Sequence[Quota]
    ) -> Row | None:
        """Set one owner's budget; no quotas removes it (None is then returned)."""
        with map_postgres_errors():
            if not quotas:
                await self.pool.execute(
                    "DELETE FROM end_user_budgets"
                    " WHERE account_id = $1 AND key_id = $2 AND end_user = $3",
                    account_id,
                    key_id,
                    end_user,
                )
                return None
            row = await self.pool.fetchrow(
                "INSERT INTO end_user_budgets (account_id, key_id, end_user, quotas)"
                " VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (account_id, key_id, end_user)"
                " DO UPDATE SET quotas = EXCLUDED.quotas, updated_at = now()"
                f" RETURNING {_COLUMNS}",
                account_id,
                key_id,
                end_user,
                json.dumps([quota_to_json(q) for q in quotas]),
            )
        return _row(row)

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's budgets: its default first, then keys' defaults, then end users."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM end_user_budgets WHERE account_id = $1"
                " ORDER BY key_id <> '' OR end_user <> '', key_id, end_user",
                account_id,
            )
        return [_row(r) for r in rows]

    async def every(self) -> list[Row]:
        """Every budget, for a rebuild of Redis."""
        with map_postgres_errors():
            rows = await self.pool.fetch(f"SELECT {_COLUMNS} FROM end_user_budgets")
        return [_row(r) for r in rows]


def _row(record: asyncpg.Record) -> Row:
    row = dict(record)
    raw = row["quotas"]
    row["quotas"] = json.loads(raw) if isinstance(raw, str) else raw
    return row
