"""A ledger row with a request id must have taken its guard row (`ledger_request_ids`) in
its own transaction (migration 026): an operator's `INSERT INTO ledger_entries` by hand,
without the guard, cannot add a debit the settler would write again, nor a second debit for
a request already written; the settler's merge, which takes the guards itself, is unchanged.

Its own database per test: the rows written by hand bypass the balance."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.postgres import partitions
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.postgres.migrate import migrate
from tests.integration.conftest import schema_at, settled_row

_BY_HAND = (
    "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id, occurred_at)"
    " VALUES ($1, $2, $3, $4, $5)"
)
_GUARD = "INSERT INTO ledger_request_ids (request_id, kind) VALUES ($1, $2)"
_REFUSED = "has no guard row taken in this transaction"


async def _account(stores: Stores) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    return acct


async def _rows(stores: Stores, rid: str) -> list[tuple[str, int]]:
    rows = await stores.pool.fetch(
        "SELECT kind, amount_micros FROM ledger_entries WHERE request_id = $1 ORDER BY id", rid
    )
    return [(r["kind"], r["amount_micros"]) for r in rows]


async def test_a_row_by_hand_without_its_guard_is_refused(own: Stores) -> None:
    acct, now = await _account(own), datetime.now(UTC)
    async with own.pool.acquire() as conn:
        for kind, amount in (("debit", -100), ("void", 0)):
            with pytest.raises(asyncpg.ForeignKeyViolationError, match=_REFUSED):
                await conn.execute(_BY_HAND, acct, kind, amount, "by-hand", now)
    assert await _rows(own, "by-hand") == []
    # The settler writes it later: once.
    assert await own.ledger.write_settlements([settled_row(acct, "by-hand", 100, now)]) == 1
    assert await _rows(own, "by-hand") == [("debit", -100)]


async def test_a_second_debit_by_hand_is_refused(own: Stores) -> None:
    acct, now = await _account(own), datetime.now(UTC)
    assert await own.ledger.write_settlements([settled_row(acct, "settled", 100, now)]) == 1
    async with own.pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=_REFUSED):
            await conn.execute(_BY_HAND, acct, "debit", -100, "settled", now)  # its guard is old
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute(_GUARD, "settled", "debit")
    assert await _rows(own, "settled") == [("debit", -100)]


async def test_a_row_by_hand_with_its_guard_in_one_transaction_is_taken(own: Stores) -> None:
    acct, now = await _account(own), datetime.now(UTC)
    async with own.pool.acquire() as conn, conn.transaction():
        await conn.execute(_GUARD, "by-hand", "debit")
        await conn.execute(_BY_HAND, acct, "debit", -100, "by-hand", now)
    await own.pool.execute(
        "WITH g AS (INSERT INTO ledger_request_ids VALUES ('in-one', 'debit')) " + _BY_HAND,
        acct, "debit", -50, "in-one", now,
    )  # fmt: skip
    assert await own.ledger.write_settlements([settled_row(acct, "by-hand", 100, now)]) == 0
    assert await _rows(own, "by-hand") == [("debit", -100)]
    assert await _rows(own, "in-one") == [("debit", -50)]
    # A credit has no request id: its guard is its idempotency key (migration 020).
    await own.pool.execute(
        "INSERT INTO ledger_entries (account_id, kind, amount_micros) VALUES ($1, 'credit', 5)",
        acct,
    )


async def test_a_new_month_still_takes_its_rows_out_of_default(own: Stores) -> None:
    acct, may = await _account(own), datetime(2019, 5, 2, tzinfo=UTC)
    assert await own.ledger.write_settlements([settled_row(acct, "r-may", 100, may)]) == 1
    added = await partitions.add_months(own.pool, [date(2019, 5, 1)])
    assert [(a.created, a.moved) for a in added] == [(True, 1)]
    assert await _rows(own, "r-may") == [("debit", -100)]
    async with own.pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match=_REFUSED):
            await conn.execute(_BY_HAND, acct, "debit", -100, "r-may-2", may)


async def test_migration_026_gives_rows_of_the_past_their_guard() -> None:
    async with schema_at(25) as (dsn, conn):
        may = datetime(2019, 5, 2, tzinfo=UTC)
        await conn.execute(_BY_HAND, "a1", "debit", -100, "r-old", may)  # before 026: taken
        assert (await migrate(conn))[0] == "026_ledger_guard_taken.sql"  # and any later one
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            assert await Ledger(pool).write_settlements([settled_row("a1", "r-old", 100, may)]) == 0
        finally:
            await pool.close()
