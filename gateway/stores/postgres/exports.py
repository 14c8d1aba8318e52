"""Per-row export state: which debits went to Stripe or Lago, which wait for a retry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from billing.exports import ExportRow, Outcome, retry_delay_s
from gateway.stores.postgres.errors import map_postgres_errors

CUSTOMER_COLUMN = {"stripe": "stripe_customer_id", "lago": "lago_subscription_id"}
_DUE = """
SELECT l.id, l.account_id, l.request_id, -l.amount_micros AS cost, l.occurred_at, l.meter,
       l.quantity, l.model, l.metadata, c.{column} AS customer
FROM ledger_entries l
JOIN export_customers c ON c.account_id = l.account_id AND c.{column} IS NOT NULL
LEFT JOIN usage_exports x ON x.target = $1 AND x.entry_id = l.id
WHERE l.kind = 'debit' AND l.amount_micros < 0
  AND (x.entry_id IS NULL OR (x.status = 'failed' AND x.next_at <= $2))
ORDER BY l.id LIMIT $3
"""
_MARK = """
INSERT INTO usage_exports AS x (target, entry_id, status, attempts, next_at, last_error)
SELECT $1, e, s, 1, n, err FROM unnest($2::bigint[], $3::text[], $4::timestamptz[], $5::text[])
    AS t(e, s, n, err)
ON CONFLICT (target, entry_id) DO UPDATE SET status = excluded.status,
    attempts = x.attempts + 1, next_at = excluded.next_at, last_error = excluded.last_error,
    updated_at = now()
"""


class ExportLedger:
    """Implements `stores.ports.ExportLedgerPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def due(self, target: str, now: datetime, limit: int) -> list[ExportRow]:
        """Debits of mapped accounts never exported, or failed and due again, oldest first."""
        sql = _DUE.format(column=CUSTOMER_COLUMN[target])
        with map_postgres_errors():
            rows = await self.pool.fetch(sql, target, now, limit)
        return [
            ExportRow(
                r["id"],
                r["account_id"],
                r["request_id"],
                r["cost"],
                r["occurred_at"],
                r["customer"],
                r["meter"],
                r["quantity"],
                r["model"],
                json.loads(r["metadata"]) if r["metadata"] else None,
            )
            for r in rows
        ]

    async def attempts(self, target: str, entry_ids: Sequence[int]) -> dict[int, int]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT entry_id, attempts FROM usage_exports WHERE target = $1"
                " AND entry_id = ANY($2::bigint[])",
                target,
                list(entry_ids),
            )
        return {r["entry_id"]: r["attempts"] for r in rows}

    async def mark(
        self, target: str, outcomes: Sequence[Outcome], expired: Sequence[int], now: datetime
    ) -> None:
        """Record each row's fate in one statement; a failure is due again after a backoff."""
        tried = await self.attempts(target, [o.entry_id for o in outcomes if not o.delivered])
        ids, states, nexts, errors = [], [], [], []
        for o in outcomes:
            ids.append(o.entry_id)
            states.append("sent" if o.delivered else "failed")
            delay = retry_delay_s(tried.get(o.entry_id, 0) + 1)
            nexts.append(None if o.delivered else now + timedelta(seconds=delay))
            errors.append(o.error)
        for entry_id in expired:
            ids.append(entry_id)
            states.append("expired")
            nexts.append(None)
            errors.append("older than Stripe's 35-day limit")
        if ids:
            with map_postgres_errors():
                await self.pool.execute(_MARK, target, ids, states, nexts, errors)

    async def set_customer(self, account_id: str, target: str, customer: str | None) -> None:
        column = CUSTOMER_COLUMN[target]
        with map_postgres_errors():
            await self.pool.execute(
                f"INSERT INTO export_customers (account_id, {column}) VALUES ($1, $2)"
                f" ON CONFLICT (account_id) DO UPDATE SET {column} = excluded.{column}",
                account_id,
                customer,
            )

    async def counts(self, target: str, account_id: str | None = None) -> dict[str, int]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT x.status, count(*) AS n FROM usage_exports x"
                " JOIN ledger_entries l ON l.id = x.entry_id WHERE x.target = $1"
                " AND ($2::text IS NULL OR l.account_id = $2) GROUP BY 1",
                target,
                account_id,
            )
        return {r["status"]: int(r["n"]) for r in rows}


def utcnow() -> datetime:
    return datetime.now(UTC)
