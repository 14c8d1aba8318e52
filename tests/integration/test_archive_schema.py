"""The rule that archive tables keep the ledger's columns, enforced: a migration (or a hand)
that changes `ledger_entries` and not every table `ledger_archives` lists is refused by the
migration runner, naming the archive and the column; the archive reads name their columns,
so what they answer does not depend on either table's column order or extra columns.

Its own database per test: retention detaches every month before its cut."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.errors import ArchiveSchemaMismatch
from gateway.stores.postgres import partitions
from gateway.stores.postgres.ledger_shape import ENTRY_COLUMNS
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.stores.postgres.migrate import migrate
from gateway.stores.records import Row
from tests.integration.conftest import meterway, settled_row
from tests.support.harness import temp_database

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
JAN, FEB, MAR = date(2018, 1, 1), date(2018, 2, 1), date(2018, 3, 1)
CARELESS = (990, "990_careless.sql", "ALTER TABLE ledger_entries ADD COLUMN note text")


def _at(day: int, month: int) -> datetime:
    return datetime(2018, month, day, 12, tzinfo=UTC)


async def _archived(stores: Stores) -> tuple[str, list[Any]]:
    """An account with rows in January, February and now, and what its reads answer
    before retention; then January and February archived by retention."""
    await partitions.add_months(stores.pool, [JAN, FEB])
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    rows = [
        settled_row(acct, "jan", 100, _at(10, 1), qty=1),
        settled_row(acct, "feb", 200, _at(10, 2)),
        settled_row(acct, "feb-void", 0, _at(11, 2), "void"),
        settled_row(acct, "now", 300, datetime.now(UTC)),
    ]
    for row in rows:
        assert await stores.ledger.write_settlements([row]) == 1
    before = await _reads(stores, acct)
    assert [m.archive for m in await retain(stores, MAR, NOW)] == [
        "ledger_archive_2018_01",
        "ledger_archive_2018_02",
    ]
    return acct, before


async def _reads(stores: Stores, acct: str) -> list[Any]:
    page: list[Row] = await stores.ledger.entries(acct, before=None, limit=50)
    requests = [await stores.directory().request_entry(acct, r) for r in ("jan", "feb-void")]
    usage = await MeteringLedger(stores.pool).meter_usage(acct, _at(5, 1), _at(15, 1))
    return [page, requests, usage]


async def test_the_reads_name_every_column_of_the_ledger(own: Stores) -> None:
    columns = await own.pool.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'ledger_entries'::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    assert tuple(r["attname"] for r in columns) == ENTRY_COLUMNS
    acct, _ = await _archived(own)
    page = await own.ledger.entries(acct, before=None, limit=50)
    assert all(tuple(r) == ENTRY_COLUMNS for r in page)  # live and archived rows alike


async def test_a_ledger_column_missing_from_an_archive_is_refused(own: Stores) -> None:
    acct, before = await _archived(own)
    assert await _reads(own, acct) == before
    async with own.pool.acquire() as conn:
        assert await migrate(conn) == []
        await conn.execute("ALTER TABLE ledger_entries ADD COLUMN note text")  # by hand
        with pytest.raises(ArchiveSchemaMismatch) as refused:
            await migrate(conn)
        assert str(refused.value).startswith(
            "ledger_archive_2018_01 lacks column note (text) of ledger_entries;"
            " ledger_archive_2018_02 lacks column note (text) of ledger_entries:"
        )
        assert await _reads(own, acct) == before  # the reads name their columns
        await conn.execute(
            "ALTER TABLE ledger_archive_2018_01 ADD COLUMN note text;"
            " ALTER TABLE ledger_archive_2018_02 ADD COLUMN note integer"
        )
        with pytest.raises(
            ArchiveSchemaMismatch, match=r"^ledger_archive_2018_02\.note is integer"
        ):
            await migrate(conn)
        await conn.execute("ALTER TABLE ledger_archive_2018_02 ALTER COLUMN note TYPE text")
        assert await migrate(conn) == []
        await conn.execute("ALTER TABLE ledger_archive_2018_01 ADD COLUMN extra bigint")
        with pytest.raises(
            ArchiveSchemaMismatch, match=r"^ledger_archive_2018_01 has column extra"
        ):
            await migrate(conn)
        await conn.execute("DROP TABLE ledger_archive_2018_01")  # a dropped archive: skipped
        assert await migrate(conn) == []
    assert await _reads(own, acct) == [before[0][:3], [None, before[1][1]], []]


async def test_a_careless_migration_is_rolled_back(own: Stores) -> None:
    acct, before = await _archived(own)
    async with own.pool.acquire() as conn:
        with pytest.raises(ArchiveSchemaMismatch, match="lacks column note"):
            await migrate(conn, files=[CARELESS])
        note = (
            "SELECT count(*) FROM pg_attribute WHERE attname = 'note' AND attrelid IN"
            " ('ledger_entries'::regclass, 'ledger_archive_2018_01'::regclass,"
            " 'ledger_archive_2018_02'::regclass)"
        )
        assert await conn.fetchval(note) == 0
        both = CARELESS[2] + "; ALTER TABLE ledger_archive_2018_01 ADD COLUMN note text"
        both += "; ALTER TABLE ledger_archive_2018_02 ADD COLUMN note text"
        assert await migrate(conn, files=[(*CARELESS[:2], both)]) == ["990_careless.sql"]
        assert await conn.fetchval(note) == 3
    assert await _reads(own, acct) == before


async def test_meterway_migrate_refuses_with_one_line() -> None:
    async with temp_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SELECT ledger_add_month('2018-01-01')")
            code, out, err = await meterway(
                dsn, "ledger", "retention", "--before", "2018-02", "--yes"
            )
            assert code == 0 and "-> ledger_archive_2018_01" in out, err
            await conn.execute("ALTER TABLE ledger_entries ADD COLUMN note text")
        finally:
            await conn.close()
        code, out, err = await meterway(dsn, "migrate")
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith("meterway: migrate refused: ledger_archive_2018_01 lacks column note")
