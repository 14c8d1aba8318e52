from __future__ import annotations

import re

import asyncpg
import pytest

from gateway.stores.postgres.migrate import migrate, migration_files
from gateway.stores.records import LEDGER_KINDS
from tests.support.harness import temp_database


async def test_migrations_are_idempotent_and_the_ledger_is_append_only() -> None:
    # A database of its own: the rows written here bypass the balance on purpose, and a
    # reconcile run by another test on the shared database would report them as drift.
    async with temp_database() as dsn:
        await _check_append_only(dsn)


async def _check_append_only(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        assert await migrate(conn) == []  # the fixture already applied them
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == [n for n, _, _ in migration_files()]
        await conn.execute(
            "INSERT INTO accounts (id, name, plan, mode) VALUES ('acct_m', 'm', 'free', 'prepaid')"
        )
        await conn.execute(
            "INSERT INTO ledger_entries (account_id, kind, amount_micros,"
            " idempotency_key) VALUES ('acct_m', 'credit', 5, 'i')"
        )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE ledger_entries SET amount_micros = 6")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM ledger_entries")
        # Uniqueness lives in the guard tables every writer goes through (migration 020: a
        # partitioned table's unique index would be per month); they are append-only too.
        await conn.execute(
            "INSERT INTO ledger_credit_keys (account_id, idempotency_key, entry_id, amount_micros)"
            " VALUES ('acct_m', 'i', 1, 5)"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO ledger_credit_keys (account_id, idempotency_key, entry_id,"
                " amount_micros) VALUES ('acct_m', 'i', 2, 5)"
            )
        await conn.execute("INSERT INTO ledger_request_ids VALUES ('r', 'debit')")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO ledger_request_ids VALUES ('r', 'debit')")
        for guard in ("ledger_credit_keys", "ledger_request_ids"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(f"DELETE FROM {guard}")
    finally:
        await conn.close()


async def test_the_ledger_admits_exactly_the_kinds_the_code_names(dsn: str) -> None:
    """records.LEDGER_KINDS (the API's schema, the explorer's filter) is the ledger's CHECK."""
    conn = await asyncpg.connect(dsn)
    try:
        checks = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE conrelid = 'ledger_entries'::regclass AND contype = 'c'"
        )
    finally:
        await conn.close()
    kind_checks = [c["def"] for c in checks if "kind = ANY" in c["def"]]
    assert len(kind_checks) == 1, kind_checks
    assert sorted(re.findall(r"'(\w+)'::text", kind_checks[0])) == sorted(LEDGER_KINDS)
