"""The PostgreSQL ledger: accounts, keys and the append-only money history.

Never on the request path before forwarding. Each write is one transaction, and unique
keys (request id and kind for settlements, account and idempotency key for credits) make
every write idempotent; they live in small guard tables because the ledger is partitioned
by month (migration 020) and a partitioned table's unique index would be per month.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from billing.money.micros import MAX_EXACT
from gateway.stores.errors import BalanceTooHigh, DuplicateCredit, StoreError
from gateway.stores.postgres import ledger_pages
from gateway.stores.postgres.api_keys.ledger import KeyLedger, _row
from gateway.stores.postgres.deadline import closed_after
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.postgres.money import grants, receivables
from gateway.stores.postgres.proof import price_drift
from gateway.stores.postgres.usage.rollups import (
    END_USER_ROLLUP_CTE,
    HOUR_ROLLUP_CTE,
    ROLLUP_CTE,
    ROLLUP_RETURNING,
    TAG_ROLLUP_CTE,
)
from gateway.stores.records import (
    NO_FILTER,
    CreditResult,
    EntryFilter,
    EventRef,
    GrantSpec,
    Row,
)
from gateway.stores.stream_fields import LEDGER_COLUMNS, ledger_row, ledger_row_raw

# Re-exported for code written before stores/errors.py, records.py and stream_fields.py.
__all__ = [
    "LEDGER_COLUMNS",
    "CreditResult",
    "DuplicateCredit",
    "Ledger",
    "ledger_row",
    "ledger_row_raw",
]

_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS settle_in (account_id text, kind text, amount_micros bigint,"
    " request_id text, key_id text, model text, provider text, input_tokens bigint,"
    " cached_input_tokens bigint, cache_write_tokens bigint, output_tokens bigint,"
    " reasoning_tokens bigint, usage_source text, occurred_at timestamptz, meter text,"
    " quantity bigint, service text, metadata jsonb, price_version text,"
    " provider_cost_micros bigint, usage_detail jsonb, end_user text)"
    " ON COMMIT DELETE ROWS;"
    # The merge takes every row's guard itself: the check for rows inserted by hand
    # (migration 026) is skipped for this transaction, at no cost per row.
    " SELECT set_config('meterway.guards_taken', 'on', true)"
)
_COLS = ", ".join(LEDGER_COLUMNS)
_S_COLS = ", ".join(f"s.{c}" for c in LEDGER_COLUMNS)
# A debit's tags are its key's when it settles: the team's overlaid by the key's own (jsonb's
# `||`, the right side winning), NULL for none; read in this statement, never on the request.
_TAGS = "nullif(coalesce(t.tags, '{}') || coalesce(k.tags, '{}'), '{}')"
# The guard row (request id, kind) is taken first; only rows that won it are inserted: the
# first copy of each (a batch may carry a message twice), in the order they were copied in,
# so ids follow the streams. The ledger is partitioned by month, so its own indexes cannot be
# unique across months (migration 020); every settlement has a request id.
_MERGE = f"""
WITH won AS (
    INSERT INTO ledger_request_ids (request_id, kind)
    SELECT request_id, kind FROM settle_in
    ON CONFLICT (request_id, kind) DO NOTHING
    RETURNING request_id, kind
), ins AS (
    INSERT INTO ledger_entries ({_COLS}, tags)
    SELECT {_S_COLS}, {_TAGS} FROM settle_in s
    LEFT JOIN api_keys k ON k.id = s.key_id LEFT JOIN teams t ON t.id = k.team_id
    WHERE s.ctid IN (
        SELECT min(f.ctid) FROM settle_in f JOIN won USING (request_id, kind)
        GROUP BY request_id, kind
    ) ORDER BY s.ctid
    RETURNING account_id, amount_micros, request_id, {ROLLUP_RETURNING}
), {ROLLUP_CTE}, {END_USER_ROLLUP_CTE}, {TAG_ROLLUP_CTE}, {HOUR_ROLLUP_CTE}, sums AS (
    SELECT account_id, sum(amount_micros) AS total, count(*) AS n FROM ins GROUP BY account_id
), upd AS (
    UPDATE accounts a SET balance_micros = a.balance_micros + sums.total
    FROM sums WHERE a.id = sums.account_id AND sums.total <> 0
    RETURNING 1
)
SELECT coalesce(sum(n), 0)::bigint FROM sums
"""
_ADD = (
    "UPDATE accounts SET balance_micros = balance_micros + $2 WHERE id = $1"
    " RETURNING balance_micros"
)
# A credit takes its guard row (with the entry id it will have) and inserts the entry only if
# it won; a retry finds its answer in the guard, even once the entry's month is archived.
_CREDIT = """
WITH won AS (
    INSERT INTO ledger_credit_keys (account_id, idempotency_key, entry_id, amount_micros)
    VALUES ($1, $3, nextval('ledger_entries_id_seq'), $2)
    ON CONFLICT (account_id, idempotency_key) DO NOTHING
    RETURNING entry_id
)
INSERT INTO ledger_entries (id, account_id, kind, amount_micros, idempotency_key, reason)
SELECT entry_id, $1, $5, $2, $3, $4 FROM won
RETURNING id, created_at
"""
# Concurrent settlers lock their accounts in one order before inserting, so two batches
# sharing accounts (or a duplicated request id, which implies its account) queue, never deadlock.
_LOCK = "SELECT 1 FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
# The settler usually shares the event loop with the gateway's requests: COPY encodes its
# rows in one go, so a batch of hundreds would hold the loop too long (docs/performance.md).
# Larger batches are handed over in slices of this many rows, the loop free between.
# A settlement batch's connection is closed past this (deadline.py): a silent PostgreSQL
# would otherwise hold the settler in the batch's ROLLBACK for good. Under the settler's own
# WRITE_TIMEOUT_S, which also bounds the wait for a connection.
SETTLE_DEADLINE_S = 25.0
COPY_SLICE_ROWS = 64


async def _paced(rows: Sequence[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    for start in range(0, len(rows), COPY_SLICE_ROWS):
        if start:
            await asyncio.sleep(0)
        for row in rows[start : start + COPY_SLICE_ROWS]:
            yield row


async def record_event(conn: asyncpg.Connection, event: EventRef) -> bool:
    """Mark a provider event applied, inside the caller's transaction; False if it was."""
    row = await conn.fetchval(
        "INSERT INTO provider_events (provider, event_id, type) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        event.provider,
        event.event_id,
        event.type,
    )
    return row is not None


async def _fund(
    conn: asyncpg.Connection, account_id: str, entry_id: int, amount: int, spec: GrantSpec
) -> int | None:
    """Money in funds a grant (its id); a refund returns to the grant of the credit it
    refunds."""
    if amount > 0:
        return await grants.create_for_credit(conn, account_id, entry_id, amount, spec)
    if spec.refund_of is not None:
        await grants.refund_to(conn, account_id, entry_id, spec.refund_of)
    return None


async def _written(conn: asyncpg.Connection, account_id: str, key: str) -> int | None:
    """The id of the entry written under the key, if one was."""
    entry = await conn.fetchval(
        "SELECT entry_id FROM ledger_credit_keys WHERE account_id = $1 AND idempotency_key = $2",
        account_id,
        key,
    )
    return None if entry is None else int(entry)


def entry_row(record: asyncpg.Record) -> Row:
    """A ledger entry as plain values: its jsonb metadata and usage detail as objects
    (asyncpg gives text)."""
    row = dict(record)
    for column in ("metadata", "usage_detail", "tags"):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


class Ledger(KeyLedger):
    """Implements `stores.ports.LedgerPort`; every statement runs inside map_postgres_errors."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def ping(self, timeout_s: float = 2.0) -> bool:
        try:
            with map_postgres_errors():
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), timeout_s)
        except (StoreError, TimeoutError):
            return False
        return True

    async def write_settlements(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert a batch in one transaction; rows already present are skipped. Returns new.

        An uncollected part (kind `uncollected`) goes to the receivables, not the ledger; a
        debit whose provider stated a cost far from its card's queues a `price.drift`."""
        accounts = sorted({row[0] for row in rows})
        entries, uncollected = receivables.split(rows)
        with map_postgres_errors():
            async with self.pool.acquire() as conn:
                with closed_after(conn, SETTLE_DEADLINE_S):
                    async with conn.transaction():
                        await conn.execute(_LOCK, accounts)
                        await conn.execute(_STAGE)
                        records = entries if len(entries) <= COPY_SLICE_ROWS else _paced(entries)
                        await conn.copy_records_to_table(
                            "settle_in", records=records, columns=LEDGER_COLUMNS
                        )
                        merged = int(await conn.fetchval(_MERGE))
                        await price_drift.write_drift_alerts(conn, entries)
                        return merged + await receivables.write_uncollected(conn, uncollected)

    async def create_account(self, account_id: str, name: str, plan: str, mode: str) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO accounts (id, name, plan, mode) VALUES ($1, $2, $3, $4)",
                account_id,
                name,
                plan,
                mode,
            )

    async def open_account(
        self, account_id: str, name: str, plan: str, mode: str, idempotency_key: str
    ) -> tuple[Row, bool]:
        """Insert the account unless one was opened with this key: (its row, created)."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "INSERT INTO accounts (id, name, plan, mode, idempotency_key)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key)"
                " WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *",
                account_id,
                name,
                plan,
                mode,
                idempotency_key,
            )
            if row is not None:
                return dict(row), True
            prior = await self.account_by_idempotency_key(idempotency_key)
        assert prior is not None  # the conflict that skipped the insert is this row
        return prior, False

    async def account_by_idempotency_key(self, idempotency_key: str) -> Row | None:
        with map_postgres_errors():
            return _row(
                await self.pool.fetchrow(
                    "SELECT * FROM accounts WHERE idempotency_key = $1", idempotency_key
                )
            )

    async def get_account(self, account_id: str) -> Row | None:
        """Reads here go once more on a fresh connection if theirs was killed."""
        sql = "SELECT * FROM accounts WHERE id = $1"
        return _row(await read_once_more(self.pool, lambda: self.pool.fetchrow(sql, account_id)))

    async def set_plan(
        self, account_id: str, plan: str, mode: str, billing_ready: bool
    ) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE accounts SET plan = $2, mode = $3, billing_ready = $4 WHERE id = $1"
                " RETURNING *",
                account_id,
                plan,
                mode,
                billing_ready,
            )
        return _row(row)

    async def set_markup(self, account_id: str, markup_bps: int | None) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE accounts SET markup_bps = $2 WHERE id = $1 RETURNING *",
                account_id,
                markup_bps,
            )
        return _row(row)

    async def uncollected(self, account_id: str, limit: int = 100) -> list[Row]:
        return await receivables.of_account(self.pool, account_id, limit)

    async def set_credit_line(self, account_id: str, micros: int) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE accounts SET credit_line_micros = $2 WHERE id = $1 RETURNING *",
                account_id,
                micros,
            )
        return _row(row)

    async def credit(
        self,
        account_id: str,
        amount: int,
        idempotency_key: str,
        reason: str,
        *,
        kind: str = "credit",
        event: EventRef | None = None,
        grant: GrantSpec | None = None,
        hold: Callable[[], Awaitable[object]] | None = None,
    ) -> CreditResult:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                # The account's lock before the entry takes its id (postgres/grants.py).
                await conn.execute(_LOCK, [account_id])
                if hold is not None and await _written(conn, account_id, idempotency_key) is None:
                    await hold()
                if event is not None:
                    await record_event(conn, event)
                row = await conn.fetchrow(
                    _CREDIT, account_id, amount, idempotency_key, reason, kind
                )
                if row is not None:
                    balance = await conn.fetchval(_ADD, account_id, amount)
                    if amount > 0 and balance is not None and balance > MAX_EXACT:
                        raise BalanceTooHigh(max(MAX_EXACT - (balance - amount), 0))
                    funded = await _fund(conn, account_id, row["id"], amount, grant or GrantSpec())
                    return CreditResult(row["id"], amount, True, row["created_at"], funded)
                prior = await conn.fetchrow(
                    "SELECT entry_id AS id, amount_micros, created_at FROM ledger_credit_keys"
                    " WHERE account_id = $1 AND idempotency_key = $2",
                    account_id,
                    idempotency_key,
                )
        if prior["amount_micros"] != amount:
            raise DuplicateCredit(idempotency_key, prior["amount_micros"])
        return CreditResult(prior["id"], amount, False, prior["created_at"])

    async def credit_key_locked(
        self, account_id: str, key: str, then: Callable[[int | None], Awaitable[None]]
    ) -> None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK, [account_id])
                await then(await _written(conn, account_id, key))

    async def entries(
        self,
        account_id: str,
        *,
        before: int | None,
        limit: int,
        filters: EntryFilter = NO_FILTER,
    ) -> list[Row]:
        """Newest first by id, live and archived rows alike, of the filters; `before` is the
        id of the last entry of the previous page. Archives are read only where their ids can
        fall in the page: below its last live row, or anywhere below `before` when the live
        rows ran out (archives.py); ids are unique across the live ledger and every archive."""
        rows = await read_once_more(
            self.pool, lambda: ledger_pages.page(self.pool, account_id, before, limit, filters)
        )
        return [entry_row(r) for r in rows]
