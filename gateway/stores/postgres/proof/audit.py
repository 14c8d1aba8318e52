"""The audit log in PostgreSQL (migration 051): appended to here, never changed (a trigger
refuses UPDATE, DELETE and TRUNCATE, whoever asks)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from gateway.stores.audit_records import AuditQuery, AuditRecord
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.records import Row

COLUMNS = (
    "id, occurred_at, account_id, actor_kind, actor_id, actor_via, action, target_kind,"
    " target_id, before, after, request_id, client_address"
)
_INSERT = """
INSERT INTO audit_log (account_id, actor_kind, actor_id, actor_via, action, target_kind,
                       target_id, before, after, request_id, client_address)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11) RETURNING id
"""
# Each filter is skipped when its argument is NULL, so one statement serves every query.
_PAGE = f"""
SELECT {COLUMNS} FROM audit_log
WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR action = $2)
  AND ($3::text IS NULL OR target_kind = $3) AND ($4::text IS NULL OR target_id = $4)
  AND ($5::timestamptz IS NULL OR occurred_at >= $5)
  AND ($6::timestamptz IS NULL OR occurred_at < $6) AND ($7::bigint IS NULL OR id < $7)
  AND ($9::text IS NULL OR actor_id = $9 OR actor_id IN (
        SELECT id FROM account_members WHERE email = lower($9)))
  AND (cardinality($10::text[]) = 0 OR split_part(action, '.', 1) = ANY($10))
ORDER BY id DESC LIMIT $8
"""
# What people call the ids a page of records names: an account, a member (by e-mail), a
# key, a team, a payment (by its receipt's number, once it has one).
_NAMES = """
SELECT id, name FROM accounts WHERE id = ANY($1) AND name <> ''
UNION ALL SELECT id, email FROM account_members WHERE id = ANY($1)
UNION ALL SELECT id, name FROM api_keys WHERE id = ANY($1)
UNION ALL SELECT id, name FROM teams WHERE id = ANY($1)
UNION ALL SELECT payment_id, 'R-' || number FROM receipt_numbers_given WHERE payment_id = ANY($1)
"""


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _row(record: asyncpg.Record) -> Row:
    row = dict(record)
    for name in ("before", "after"):
        row[name] = None if row[name] is None else json.loads(row[name])
    return row


class AuditLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def append(self, record: AuditRecord) -> int:
        r = record
        with map_postgres_errors():
            new_id: int = await self.pool.fetchval(
                _INSERT,
                r.account_id,
                r.actor_kind,
                r.actor_id,
                r.actor_via,
                r.action,
                r.target_kind,
                r.target_id,
                _json(r.before),
                _json(r.after),
                r.request_id,
                r.client_address,
            )
        return new_id

    async def page(self, query: AuditQuery) -> list[Row]:
        q = query
        args = (q.account_id, q.action, q.target_kind, q.target_id, q.since, q.until)

        async def read() -> list[asyncpg.Record]:
            more = (q.before_id, q.limit, q.actor, list(q.heads))
            return list(await self.pool.fetch(_PAGE, *args, *more))

        return [_row(r) for r in await read_once_more(self.pool, read)]

    async def names(self, ids: list[str]) -> dict[str, str]:
        async def read() -> list[asyncpg.Record]:
            return list(await self.pool.fetch(_NAMES, ids))

        return {r["id"]: r["name"] for r in await read_once_more(self.pool, read)}
