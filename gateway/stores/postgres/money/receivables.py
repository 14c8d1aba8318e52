"""The operator's receivables: what debits could not collect (migration 055).

settle.lua takes from an account only what its balance (above its floor) and its spend
windows have free; the rest of a debit is queued as its own message (kind `uncollected`),
and the settler writes it here, in the transaction of its batch, never as a ledger entry:
the account did not pay it. Each account's first uncollected part in an hour also queues an
operator notification (`debit.uncollected`) in that transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row
from gateway.stores.stream_fields import LEDGER_COLUMNS, UNCOLLECTED

_AT = {name: n for n, name in enumerate(LEDGER_COLUMNS)}
_INSERT = """
WITH ins AS (
    INSERT INTO uncollected_debits
        (request_id, account_id, key_id, model, provider, amount_micros, why, occurred_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::text[], $8::timestamptz[])
    ON CONFLICT (request_id) DO NOTHING
    RETURNING *
), alert AS (
    INSERT INTO notify_outbox (delivery_id, account_id, event, payload)
    SELECT DISTINCT ON (account_id)
        'dlv_debit.uncollected_' || account_id || '_' || to_char(occurred_at, 'YYYYMMDDHH24'),
        account_id, 'debit.uncollected',
        jsonb_build_object('request_id', request_id, 'amount_micros', amount_micros,
            'provider', provider, 'model', model, 'why', why)
    FROM ins ORDER BY account_id, occurred_at
    ON CONFLICT (delivery_id) DO NOTHING
)
SELECT count(*) FROM ins
"""


def split(rows: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(ledger rows, uncollected rows) of a settler's batch, each in its order."""
    ledger: list[tuple[Any, ...]] = []
    uncollected: list[tuple[Any, ...]] = []
    kind = _AT["kind"]
    for row in rows:
        (uncollected if row[kind] == UNCOLLECTED else ledger).append(row)
    return ledger, uncollected


async def write_uncollected(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert the batch's uncollected parts (in the caller's transaction); returns new."""
    if not rows:
        return 0

    def col(name: str) -> list[Any]:
        return [r[_AT[name]] for r in rows]

    amounts = [-a for a in col("amount_micros")]  # the row carries it as a debit would
    whys = [json.loads(m)["why"] for m in col("metadata")]
    args = (col("request_id"), col("account_id"), col("key_id"), col("model"))
    return int(
        await conn.fetchval(_INSERT, *args, col("provider"), amounts, whys, col("occurred_at"))
    )


async def of_account(pool: asyncpg.Pool, account_id: str, limit: int) -> list[Row]:
    """The account's receivables, newest first (`GET /admin/v1/accounts/{id}/uncollected`)."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT request_id, key_id, model, provider, amount_micros, why, occurred_at"
            " FROM uncollected_debits WHERE account_id = $1"
            " ORDER BY occurred_at DESC, request_id LIMIT $2",
            account_id,
            limit,
        )
    return [dict(r) for r in rows]
