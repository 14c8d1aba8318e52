"""Credit grants in PostgreSQL (migration 036): made with their credit, allocated after.

`allocate` follows one account's ledger in id order from its book's cursor, under the
account's row lock. Every writer of ledger rows takes that lock before its rows get their
ids (the settler's merge, `Ledger.credit`), so an account's ids commit in order and the
cursor never passes an id that commits later. The rules are billing/money/credit_grants.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from billing.money.credit_grants import Book, Draw, Entry, Grant, allocate
from gateway.stores.errors import StoreError
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.records import GrantEnd, GrantSpec, Row

PAGE = 2000  # entries allocated per statement round
COLUMNS = (
    "id, account_id, credit_entry_id, kind, amount_micros, remaining_micros, priority,"
    " expires_at, revoked_at, closed_at, reason, created_at"
)
_GRANT = """
SELECT id, kind, remaining_micros, priority, least(expires_at, revoked_at) AS ends_at,
       coalesce(credit_entry_id, 0) AS funded_by
FROM credit_grants WHERE account_id = $1
  AND (remaining_micros > 0 OR id = ANY($2::bigint[]) OR credit_entry_id = ANY($3::bigint[]))
"""
_ENTRIES = """
SELECT l.id, l.kind, l.amount_micros, l.occurred_at,
       coalesce(g.id, r.grant_id,
                CASE WHEN l.kind = 'expire' THEN (l.metadata->>'grant_id')::bigint END) AS grant_id
FROM ledger_entries l
LEFT JOIN credit_grants g ON g.credit_entry_id = l.id
LEFT JOIN grant_refunds r ON r.entry_id = l.id
WHERE l.account_id = $1 AND l.id > $2 ORDER BY l.id LIMIT $3
"""


async def create_for_credit(
    conn: asyncpg.Connection, account_id: str, entry_id: int, amount: int, spec: GrantSpec
) -> int:
    """The grant a new credit funds, in the credit's transaction; its id."""
    return int(
        await conn.fetchval(
            "INSERT INTO credit_grants (account_id, credit_entry_id, kind, amount_micros,"
            " remaining_micros, priority, expires_at, reason)"
            " VALUES ($1, $2, $3, $4, $4, $5, $6, $7) RETURNING id",
            account_id,
            entry_id,
            spec.kind,
            amount,
            spec.priority,
            spec.expires_at,
            spec.reason,
        )
    )


async def refund_to(
    conn: asyncpg.Connection, account_id: str, entry_id: int, credit_key: str
) -> None:
    """A refund entry returns to the grant of the credit keyed `credit_key` (if any)."""
    await conn.execute(
        "INSERT INTO grant_refunds (entry_id, grant_id)"
        " SELECT $2, g.id FROM ledger_credit_keys k"
        " JOIN credit_grants g ON g.credit_entry_id = k.entry_id"
        " WHERE k.account_id = $1 AND k.idempotency_key = $3",
        account_id,
        entry_id,
        credit_key,
    )


class Grants:
    """Credit grants: allocation, the ones ending, and the operator's reads and revocation."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def allocate(self, account_id: str) -> int:
        """Allocate the account's new ledger entries to its grants; how many."""
        done = 0
        with map_postgres_errors():
            while True:
                async with self.pool.acquire() as conn, conn.transaction():
                    n = await _allocate_page(conn, account_id)
                done += n
                if n < PAGE:
                    return done

    async def last_entry_id(self) -> int:
        """The highest ledger entry id now: where following new entries starts."""
        with map_postgres_errors():
            return int(await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM ledger_entries"))

    async def entered_since(self, after_id: int, limit: int = 5000) -> list[tuple[int, str]]:
        """(id, account) of the ledger entries after `after_id`, in id order, at most
        `limit`: it reads the primary key's newest end, however many accounts there are."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT id, account_id FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT $2",
                after_id,
                limit,
            )
        return [(r["id"], r["account_id"]) for r in rows]

    async def behind(self, among: Sequence[str] | None = None) -> list[str]:
        """The accounts with entries not yet allocated: every one (a slow, thorough pass), or
        those `among` (one index probe each: what another keeper allocated is skipped)."""
        query = (
            "SELECT a.id FROM accounts a LEFT JOIN grant_books b ON b.account_id = a.id"
            " WHERE EXISTS (SELECT 1 FROM ledger_entries l WHERE l.account_id = a.id"
            " AND l.id > coalesce(b.through_id, 0))"
        )
        with map_postgres_errors():
            if among is None:
                rows = await self.pool.fetch(query)
            else:
                rows = await self.pool.fetch(query + " AND a.id = ANY($1::text[])", list(among))
        return [r["id"] for r in rows]

    async def ending(self, now: datetime, limit: int = 100) -> list[Row]:
        """Grants past their expiry or revoked, not yet closed."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {COLUMNS} FROM credit_grants WHERE closed_at IS NULL"
                " AND (expires_at IS NOT NULL OR revoked_at IS NOT NULL)"
                " AND least(expires_at, revoked_at) <= $1"
                " ORDER BY least(expires_at, revoked_at) LIMIT $2",
                now,
                limit,
            )
        return [dict(r) for r in rows]

    async def rest(self, grant_id: int) -> tuple[int, int]:
        """(remaining, write-offs so far) of a grant, read after its account is allocated."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "SELECT g.remaining_micros, (SELECT count(DISTINCT d.entry_id) FROM grant_draws d"
                " JOIN ledger_entries l ON l.id = d.entry_id AND l.account_id = g.account_id"
                " WHERE d.grant_id = g.id AND l.kind = 'expire') AS rounds"
                " FROM credit_grants g WHERE g.id = $1",
                grant_id,
            )
        if row is None:
            raise StoreError(f"no grant {grant_id}")
        return int(row["remaining_micros"]), int(row["rounds"])

    async def close(self, grant_id: int, at: datetime) -> None:
        """An ended grant with nothing left: no more write-offs."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE credit_grants SET closed_at = $2"
                " WHERE id = $1 AND remaining_micros = 0 AND closed_at IS NULL",
                grant_id,
                at,
            )

    async def revoke(self, grant_id: int, at: datetime) -> Row | None:
        """Mark a grant revoked at `at` (its rest is written off after); None if unknown."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE credit_grants SET revoked_at = coalesce(revoked_at, $2)"
                f" WHERE id = $1 RETURNING {COLUMNS}",
                grant_id,
                at,
            )
        return None if row is None else dict(row)

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's grants, newest first."""
        sql = f"SELECT {COLUMNS} FROM credit_grants WHERE account_id = $1 ORDER BY id DESC"
        rows = await read_once_more(self.pool, lambda: self.pool.fetch(sql, account_id))
        return [dict(r) for r in rows]

    async def get(self, grant_id: int) -> Row | None:
        sql = f"SELECT {COLUMNS} FROM credit_grants WHERE id = $1"
        row = await read_once_more(self.pool, lambda: self.pool.fetchrow(sql, grant_id))
        return None if row is None else dict(row)

    async def ends(self) -> dict[str, list[GrantEnd]]:
        """Per account, its grants with an end, not closed, holding money (their remaining
        as allocated: at least what is left once queued debits are allocated too)."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT account_id, id, remaining_micros,"
                " (extract(epoch FROM least(expires_at, revoked_at)) * 1000)::bigint AS end_ms"
                " FROM credit_grants WHERE closed_at IS NULL AND remaining_micros > 0"
                " AND (expires_at IS NOT NULL OR revoked_at IS NOT NULL) ORDER BY account_id, id"
            )
        out: dict[str, list[GrantEnd]] = {}
        for r in rows:
            end = GrantEnd(r["id"], r["remaining_micros"], r["end_ms"])
            out.setdefault(r["account_id"], []).append(end)
        return out

    async def draws(self, entry_id: int) -> list[Row]:
        """Which grants a ledger entry drew from (grant_id None: the account's debt)."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT grant_id, amount_micros FROM grant_draws WHERE entry_id = $1"
                " ORDER BY grant_id NULLS LAST",
                entry_id,
            )
        return [dict(r) for r in rows]


async def _allocate_page(conn: asyncpg.Connection, account_id: str) -> int:
    await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)
    book_row = await conn.fetchrow(
        "INSERT INTO grant_books (account_id, through_id) VALUES ($1, 0)"
        " ON CONFLICT (account_id) DO UPDATE SET through_id = grant_books.through_id"
        " RETURNING through_id, debt_micros",
        account_id,
    )
    rows = await conn.fetch(_ENTRIES, account_id, book_row["through_id"], PAGE)
    entries = [await _entry(conn, account_id, r) for r in rows]
    targets = [e.grant_id for e in entries if e.grant_id is not None]
    funded = [e.id for e in entries if e.amount > 0]
    grants = await conn.fetch(_GRANT, account_id, targets, funded)
    book = Book({g["id"]: _grant(g) for g in grants}, book_row["debt_micros"])
    before = {gid: g.remaining for gid, g in book.grants.items()}
    draws = [d for e in entries for d in allocate(book, e)]
    await _save(conn, account_id, book, before, draws, entries[-1].id if entries else None)
    return len(entries)


async def _entry(conn: asyncpg.Connection, account_id: str, r: asyncpg.Record) -> Entry:
    """An entry to allocate; money that came in without a grant (a positive adjustment)
    funds a paid grant made now."""
    grant_id = r["grant_id"]
    if r["amount_micros"] > 0 and grant_id is None:
        spec = GrantSpec(reason=f"{r['kind']} entry {r['id']}")
        grant_id = await create_for_credit(conn, account_id, r["id"], r["amount_micros"], spec)
    return Entry(r["id"], r["kind"], r["amount_micros"], r["occurred_at"], grant_id)


def _grant(g: asyncpg.Record) -> Grant:
    return Grant(
        g["id"], g["kind"], g["remaining_micros"], g["priority"], g["ends_at"], g["funded_by"]
    )


async def _save(
    conn: asyncpg.Connection,
    account_id: str,
    book: Book,
    before: dict[int, int],
    draws: Sequence[Draw],
    through: int | None,
) -> None:
    changed = [(g.id, g.remaining) for g in book.grants.values() if before[g.id] != g.remaining]
    if changed:
        await conn.executemany(
            "UPDATE credit_grants SET remaining_micros = $2 WHERE id = $1", changed
        )
    if draws:
        await conn.copy_records_to_table(
            "grant_draws",
            records=[(d.entry_id, d.grant_id, account_id, d.amount) for d in draws],
            columns=("entry_id", "grant_id", "account_id", "amount_micros"),
        )
    params: tuple[Any, ...] = (account_id, through, book.debt)
    await conn.execute(
        "UPDATE grant_books b SET through_id = coalesce($2, b.through_id), debt_micros = $3,"
        " balance_micros = a.balance_micros FROM accounts a"
        " WHERE b.account_id = $1 AND a.id = $1",
        *params,
    )
