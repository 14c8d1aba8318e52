"""Commitments and their periods (migration 106, `stores/ports/contracts/commitments.py`).

Written by the operator API and the commitment keeper, never read on a proxied call's
path: a call reads the open period from the account's Redis hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from billing.contracts.commitments import TERM_FIELDS, Closing, Terms
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_COLUMNS = ", ".join(TERM_FIELDS)
_PUT = f"""
INSERT INTO commitments (account_id, {_COLUMNS}, starts_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (account_id) DO UPDATE SET period = excluded.period,
    amount_micros = excluded.amount_micros, billing = excluded.billing,
    discount_bps = excluded.discount_bps, on_exhausted = excluded.on_exhausted,
    overage_bps = excluded.overage_bps, rollover_bps = excluded.rollover_bps,
    rollover_cap_micros = excluded.rollover_cap_micros,
    rollover_periods = excluded.rollover_periods, ends_at = NULL, updated_at = now()
RETURNING *
"""
_OPEN = """
INSERT INTO commitment_periods (commitment_id, starts_at, ends_at, committed_micros, rolled_in)
VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING
"""
_OPEN_PERIOD = (
    "SELECT * FROM commitment_periods WHERE commitment_id = $1 AND closed_at IS NULL"
    " ORDER BY starts_at LIMIT 1"
)
_DUE = """
SELECT c.*, p.starts_at AS period_starts_at, p.ends_at AS period_ends_at,
       p.committed_micros, p.rolled_in
FROM commitment_periods p JOIN commitments c ON c.id = p.commitment_id
WHERE p.closed_at IS NULL AND p.ends_at <= $1 ORDER BY p.ends_at LIMIT $2
"""
_CLOSE = """
UPDATE commitment_periods SET drawn_micros = $3, charged_micros = $4,
    rolled_out_micros = $5, expired_micros = $6, carried = $7::jsonb, closed_at = now()
WHERE commitment_id = $1 AND starts_at = $2 AND closed_at IS NULL
RETURNING ends_at
"""
_NEXT = """
INSERT INTO commitment_periods (commitment_id, starts_at, ends_at, committed_micros, rolled_in)
SELECT c.id, $2, $3, c.amount_micros, $4::jsonb FROM commitments c
WHERE c.id = $1 AND (c.ends_at IS NULL OR c.ends_at > $2)
ON CONFLICT DO NOTHING
"""
# What the account's calls were debited in the period (a debit's amount is negative).
_DRAWN = """
SELECT coalesce(-sum(amount_micros), 0) FROM ledger_entries
WHERE account_id = $1 AND kind = 'debit' AND occurred_at >= $2 AND occurred_at < $3
"""


def _row(record: asyncpg.Record | None) -> Row | None:
    if record is None:
        return None
    row = dict(record)
    for column in ("rolled_in", "carried"):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


def _carried(closing: Closing) -> str:
    return json.dumps([[t.remaining_micros, t.ends_ms] for t in closing.carried])


class Commitments:
    """Implements `stores.ports.commitments.CommitmentLedgerPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(
        self, account_id: str, terms: Terms, start: datetime, end: datetime
    ) -> tuple[Row, Row]:
        values = [getattr(terms, name) for name in TERM_FIELDS]
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_PUT, account_id, *values, start)
                if await conn.fetchrow(_OPEN_PERIOD, row["id"]) is None:
                    await conn.execute(_OPEN, row["id"], start, end, terms.amount_micros, "[]")
                period = await conn.fetchrow(_OPEN_PERIOD, row["id"])
        return dict(row), _row(period) or {}

    async def get(self, account_id: str) -> tuple[Row, Row | None] | None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT * FROM commitments WHERE account_id = $1", account_id
                )
                if row is None:
                    return None
                return dict(row), _row(await conn.fetchrow(_OPEN_PERIOD, row["id"]))

    async def stop(self, account_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE commitments c SET ends_at = coalesce(("
                "  SELECT p.ends_at FROM commitment_periods p"
                "  WHERE p.commitment_id = c.id AND p.closed_at IS NULL), now()),"
                " updated_at = now() WHERE account_id = $1 RETURNING *",
                account_id,
            )
        return None if row is None else dict(row)

    async def due(self, now: datetime, limit: int = 100) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(_DUE, now, limit)
        return [r for r in (_row(x) for x in rows) if r is not None]

    async def open_periods(self) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                _DUE.replace(" LIMIT $2", ""), datetime.max.replace(tzinfo=UTC)
            )
        return [r for r in (_row(x) for x in rows) if r is not None]

    async def record_close(
        self, commitment_id: int, start: datetime, closing: Closing, next_open: bool
    ) -> None:
        c = closing
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                end = await conn.fetchval(
                    _CLOSE,
                    commitment_id,
                    start,
                    c.drawn_micros,
                    c.charged_micros,
                    c.rolled_micros,
                    c.expired_micros,
                    _carried(c),
                )
                if end is not None and next_open:
                    after = await conn.fetchval(
                        "SELECT $1::timestamptz + (CASE period WHEN 'month' THEN 1"
                        " WHEN 'quarter' THEN 3 ELSE 12 END) * interval '1 month'"
                        " FROM commitments WHERE id = $2",
                        end,
                        commitment_id,
                    )
                    await conn.execute(_NEXT, commitment_id, end, after, _carried(c))

    async def drawn_in(self, account_id: str, start: datetime, end: datetime) -> int:
        with map_postgres_errors():
            return int(await self.pool.fetchval(_DRAWN, account_id, start, end))

    async def taken(self, account_id: str, idempotency_key: str) -> int:
        with map_postgres_errors():
            amount = await self.pool.fetchval(
                "SELECT amount_micros FROM ledger_credit_keys"
                " WHERE account_id = $1 AND idempotency_key = $2",
                account_id,
                idempotency_key,
            )
        return 0 if amount is None else -int(amount)

    async def periods(self, commitment_id: int, limit: int = 24) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT * FROM commitment_periods WHERE commitment_id = $1"
                " ORDER BY starts_at DESC LIMIT $2",
                commitment_id,
                limit,
            )
        return [r for r in (_row(x) for x in rows) if r is not None]
