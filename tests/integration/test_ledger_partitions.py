"""The ledger partitioned by month (migration 020) on a real PostgreSQL: the move from an
unpartitioned ledger, months created ahead, idempotency across months, and retention."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest

from gateway.config.settings import load_settings
from gateway.http.appkeys import SUPERVISOR
from gateway.ops.ledger_months import (
    MonthError,
    ensure_ahead,
    keep_ahead,
    retain,
    retention_plan,
)
from gateway.services.auth import new_id
from gateway.stores.connect import Stores, open_stores
from gateway.stores.postgres import partitions
from gateway.stores.postgres.migrate import migrate
from gateway.stores.postgres.money.balances import ledger_totals
from tests.integration.conftest import meterway, settled_row
from tests.support.harness import Gateway, gateway_env, temp_database

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)  # the keeper's and retention's "now" here
NOWHERE = "http://127.0.0.1:9"


async def _account(stores: Stores, credit: int = 1_000_000) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, "n", "pro", "prepaid")
    if credit:
        await stores.ledger.credit(acct, credit, "seed", "seed")
    return acct


async def _balances_match_ledger(stores: Stores, accounts: list[str]) -> None:
    totals = await ledger_totals(stores.pool, accounts)
    for acct in accounts:
        row = await stores.ledger.get_account(acct)
        assert row is not None and row["balance_micros"] == totals[acct]


@pytest.fixture
async def db019() -> AsyncIterator[str]:
    async with temp_database() as dsn:  # fully migrated: rebuild it at 019
        conn = await asyncpg.connect(dsn)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate(conn, upto=19)
        await conn.close()
        yield dsn


async def test_migration_from_019_keeps_every_row_and_sum(db019: str) -> None:
    conn = await asyncpg.connect(db019)
    try:
        await conn.execute(
            "INSERT INTO accounts (id, name, plan, mode, balance_micros) VALUES"
            " ('a1', 'a', 'pro', 'prepaid', 9000), ('a2', 'b', 'pro', 'prepaid', 4000)"
        )
        await conn.execute(
            "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id,"
            " idempotency_key, occurred_at) VALUES"
            " ('a1', 'credit', 10000, NULL, 'pay-1', '2024-01-31 23:59+00'),"
            " ('a1', 'void', 0, 'r1', NULL, '2024-02-01 00:00+00'),"
            " ('a1', 'debit', -1000, 'r1', NULL, '2025-07-10 10:00+00'),"
            " ('a2', 'credit', 5000, NULL, 'pay-2', '2025-12-31 23:00+00'),"
            " ('a2', 'debit', -1000, 'r2', NULL, now())"
        )
        before = await conn.fetch("SELECT * FROM ledger_entries ORDER BY id")
        assert await migrate(conn, upto=20) == ["020_ledger_partitions.sql"]
        assert await conn.fetch("SELECT * FROM ledger_entries ORDER BY id") == before
        kind = await conn.fetchval("SELECT relkind FROM pg_class WHERE relname = 'ledger_entries'")
        assert kind == b"p"
        by_month = await conn.fetch(
            "SELECT tableoid::regclass::text AS part, count(*) FROM ledger_entries GROUP BY 1"
        )
        parts = {r["part"] for r in by_month}
        assert {
            "ledger_entries_2024_01",
            "ledger_entries_2024_02",
            "ledger_entries_2025_07",
        } <= parts
        assert "ledger_entries_default" not in parts
        sums = await conn.fetch(
            "SELECT account_id, sum(amount_micros) AS s FROM ledger_kind_sums GROUP BY 1 ORDER BY 1"
        )
        assert [(r["account_id"], r["s"]) for r in sums] == [("a1", 9000), ("a2", 4000)]
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM ledger_entries WHERE account_id = 'a1'")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _stores_at(dsn: str) -> AsyncIterator[Stores]:
    async with open_stores(load_settings(gateway_env(dsn, NOWHERE, "mwtnone"))) as opened:
        yield opened


async def test_guards_carry_over_from_019(db019: str) -> None:
    conn = await asyncpg.connect(db019)
    await conn.execute(
        "INSERT INTO accounts (id, name, plan, mode, balance_micros) VALUES"
        " ('a1', 'a', 'pro', 'prepaid', 9000)"
    )
    await conn.execute(
        "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id,"
        " idempotency_key, occurred_at) VALUES"
        " ('a1', 'credit', 10000, NULL, 'pay-1', '2024-01-31 23:59+00'),"
        " ('a1', 'debit', -1000, 'r1', NULL, '2024-02-01 00:00+00')"
    )
    await migrate(conn)
    await conn.close()
    async with _stores_at(db019) as stores:
        again = await stores.ledger.credit("a1", 10000, "pay-1", "seed")
        assert not again.created
        replay = settled_row("a1", "r1", 1000, datetime(2026, 11, 1, tzinfo=UTC))
        assert await stores.ledger.write_settlements([replay]) == 0
        await _balances_match_ledger(stores, ["a1"])


async def test_one_request_at_two_times_is_written_once(stores: Stores) -> None:
    acct = await _account(stores)
    early = settled_row(acct, f"{acct}-both", 700, datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
    late = settled_row(acct, f"{acct}-both", 700, datetime(2026, 11, 1, 0, 1, tzinfo=UTC))
    assert await stores.ledger.write_settlements([early]) == 1
    assert await stores.ledger.write_settlements([late]) == 0  # another month, same request
    other_early = settled_row(acct, f"{acct}-batch", 300, datetime(2026, 9, 1, tzinfo=UTC))
    other_late = settled_row(acct, f"{acct}-batch", 300, datetime(2026, 12, 1, tzinfo=UTC))
    assert await stores.ledger.write_settlements([other_early, other_late]) == 1
    rows = await stores.pool.fetch(
        "SELECT request_id, occurred_at FROM ledger_entries WHERE account_id = $1"
        " AND kind = 'debit' ORDER BY request_id",
        acct,
    )
    assert [(r["request_id"], r["occurred_at"].month) for r in rows] == [
        (f"{acct}-batch", 9),  # the first copy in the batch wins
        (f"{acct}-both", 10),
    ]
    await _balances_match_ledger(stores, [acct])


async def test_credits_stay_idempotent_across_months(stores: Stores) -> None:
    acct = await _account(stores, credit=0)
    first = await stores.ledger.credit(acct, 5_000, "pay-x", "topup")
    again = await stores.ledger.credit(acct, 5_000, "pay-x", "topup")
    assert first.created and not again.created and again.entry_id == first.entry_id
    assert again.created_at == first.created_at
    rows = await stores.pool.fetch("SELECT id FROM ledger_entries WHERE account_id = $1", acct)
    assert [r["id"] for r in rows] == [first.entry_id]
    await _balances_match_ledger(stores, [acct])


async def test_partitions_are_created_ahead_and_take_rows_out_of_default(stores: Stores) -> None:
    acct = await _account(stores)
    far = datetime(2031, 3, 5, tzinfo=UTC)
    assert await stores.ledger.write_settlements([settled_row(acct, "rid-far", 100, far)]) == 1
    assert (await partitions.default_months(stores.pool)).get(date(2031, 3, 1)) == 1
    before = await stores.pool.fetch("SELECT * FROM ledger_entries WHERE account_id = $1", acct)

    added = await ensure_ahead(stores, datetime(2031, 2, 10, tzinfo=UTC), 2)
    assert [(a.month, a.created, a.moved) for a in added] == [
        (date(2031, 2, 1), True, 0),
        (date(2031, 3, 1), True, 1),
        (date(2031, 4, 1), True, 0),
    ]
    again = await ensure_ahead(stores, datetime(2031, 2, 10, tzinfo=UTC), 2)
    assert not any(a.created for a in again)
    assert date(2031, 3, 1) not in await partitions.default_months(stores.pool)
    after = await stores.pool.fetch("SELECT * FROM ledger_entries WHERE account_id = $1", acct)
    assert sorted(after, key=lambda r: r["id"]) == sorted(before, key=lambda r: r["id"])
    part = await stores.pool.fetchval(
        "SELECT tableoid::regclass::text FROM ledger_entries WHERE request_id = 'rid-far'"
    )
    assert part == "ledger_entries_2031_03"
    for table in ("ledger_entries_default", "ledger_entries_2031_03"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await stores.pool.execute(f"DELETE FROM {table}")


async def test_the_keeper_keeps_two_months_ahead_and_serve_runs_it(gw: Gateway) -> None:
    stores = gw.stores()
    added = await keep_ahead(stores, datetime(2033, 12, 20, tzinfo=UTC))
    assert [a.month for a in added] == [date(2033, 12, 1), date(2034, 1, 1), date(2034, 2, 1)]
    assert await keep_ahead(stores, datetime(2033, 12, 20, tzinfo=UTC)) == []
    assert "ledger_partitions" in gw.app[SUPERVISOR].states


def _old(year: int) -> list[datetime]:
    return [datetime(year, 1, 31, 23, 59, tzinfo=UTC), datetime(year, 6, 1, tzinfo=UTC)]


async def _old_months(stores: Stores, year: int) -> list[str]:
    """Two accounts with debits in January and June of `year` and one in the current month
    (tests share their session's database: each uses its own year)."""
    accounts = [await _account(stores) for _ in range(2)]
    await partitions.add_months(stores.pool, [date(year, 1, 1), date(year, 6, 1)])
    rows = [
        settled_row(acct, f"{acct}-{i}", 100 * (i + 1), at)
        for acct in accounts
        for i, at in enumerate(_old(year))
    ]
    rows.append(settled_row(accounts[0], f"{accounts[0]}-now", 50, datetime.now(UTC)))
    assert await stores.ledger.write_settlements(rows) == 5
    return accounts


async def test_retention_detaches_whole_months_and_keeps_the_sums(stores: Stores) -> None:
    accounts = await _old_months(stores, 2024)
    plan = await retention_plan(stores, date(2024, 7, 1), NOW)
    assert [(m.month, m.entries, m.amount_micros) for m in plan if m.month.year == 2024] == [
        (date(2024, 1, 1), 2, -200),
        (date(2024, 6, 1), 2, -400),
    ]
    assert date(2024, 1, 1) in await partitions.attached(stores.pool)  # a plan changes nothing
    done = await retain(stores, date(2024, 7, 1), NOW)
    assert [m.archive for m in done if m.month.year == 2024] == [
        "ledger_archive_2024_01",
        "ledger_archive_2024_06",
    ]
    assert date(2024, 1, 1) not in await partitions.attached(stores.pool)
    archived = await stores.pool.fetch("SELECT * FROM ledger_archive_2024_06 ORDER BY id")
    assert [(r["account_id"], r["amount_micros"]) for r in archived] == [
        (accounts[0], -200),
        (accounts[1], -200),
    ]
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await stores.pool.execute("DELETE FROM ledger_archive_2024_06")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await stores.pool.execute(
            "INSERT INTO ledger_archive_2024_06 SELECT * FROM ledger_archive_2024_01"
        )
    await _balances_match_ledger(stores, accounts)
    replay = settled_row(accounts[0], f"{accounts[0]}-0", 100, _old(2024)[0])
    assert await stores.ledger.write_settlements([replay]) == 0  # the guard outlives the month
    assert [m for m in await retain(stores, date(2024, 7, 1), NOW) if m.month.year == 2024] == []

    await partitions.add_months(stores.pool, [date(2024, 1, 1)])  # a late row for an archived month
    late = settled_row(accounts[1], "rid-late-2024", 30, _old(2024)[0])
    assert await stores.ledger.write_settlements([late]) == 1
    again = await retain(stores, date(2024, 7, 1), NOW)
    assert [m.archive for m in again if m.month.year == 2024] == ["ledger_archive_2024_01_2"]
    await _balances_match_ledger(stores, accounts)


async def test_retention_refuses_the_current_month_and_later(stores: Stores) -> None:
    for before in (date(2026, 11, 1), date(2027, 1, 1)):
        with pytest.raises(MonthError, match="current month or later"):
            await retain(stores, before, NOW)


async def test_commands_dry_run_detach_and_refuse_with_one_line(stores: Stores, dsn: str) -> None:
    accounts = await _old_months(stores, 2022)
    code, out, _ = await meterway(dsn, "ledger", "partitions", "--ahead", "3")
    assert code == 0 and "exists" in out
    code, out, _ = await meterway(dsn, "ledger", "retention", "--before", "2022-07")
    assert code == 0 and "would detach ledger_entries_2022_01" in out and "dry run" in out
    assert date(2022, 1, 1) in await partitions.attached(stores.pool)
    code, out, err = await meterway(dsn, "ledger", "retention", "--before", "2022-02", "--yes")
    assert code == 0, err
    assert out.startswith("detached ledger_entries_2022_01 -> ledger_archive_2022_01")
    assert date(2022, 6, 1) in await partitions.attached(stores.pool)
    await _balances_match_ledger(stores, accounts)
    current = datetime.now(UTC).strftime("%Y-%m")
    for bad, words in ((current, "current month or later"), ("2024-13", "not a month")):
        code, out, err = await meterway(dsn, "ledger", "retention", "--before", bad, "--yes")
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and words in err


FILTER_SHAPES = (
    "(account_id, kind, id DESC) WHERE (kind <> 'debit'::text)",
    "(account_id, model, id DESC) WHERE (model IS NOT NULL)",
    "(key_id, id DESC) WHERE (key_id IS NOT NULL)",
)


async def _archive_month(conn: asyncpg.Connection, month: str) -> str:
    """What retention does to a month: its partition detached, renamed and registered."""
    start = date.fromisoformat(f"{month}-01")
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    part, archive = (
        f"ledger_entries_{month.replace('-', '_')}",
        f"ledger_archive_{month.replace('-', '_')}",
    )
    await conn.execute(
        f"CREATE TABLE {part} PARTITION OF ledger_entries FOR VALUES FROM ('{start}') TO ('{end}')"
    )
    await conn.execute(f"ALTER TABLE ledger_entries DETACH PARTITION {part}")
    await conn.execute(f"ALTER TABLE {part} RENAME TO {archive}")
    await conn.execute(
        "INSERT INTO ledger_archives (archive_table, month, entries) VALUES ($1, $2, 0)",
        archive,
        start,
    )
    return archive


async def test_months_archived_before_the_filter_indexes_get_them_once() -> None:
    """Migration 045 gives an archive detached before 044 the filter indexes, and leaves one
    detached after it (which kept its partition's) with one index of each shape."""
    async with temp_database() as dsn:  # fully migrated: rebuild it at 043
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            await migrate(conn, upto=43)
            before = await _archive_month(conn, "2024-01")
            await migrate(conn, upto=44)
            after = await _archive_month(conn, "2024-02")
            await migrate(conn)
            for table in (before, after):
                defs = await conn.fetch(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = $1", table
                )
                found = [sum(d["indexdef"].endswith(s) for d in defs) for s in FILTER_SHAPES]
                assert found == [1, 1, 1], (table, [d["indexdef"] for d in defs])
        finally:
            await conn.close()
