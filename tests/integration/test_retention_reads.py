"""What a user reads of their own history answers the same after `meterway ledger retention`
archived a month: the account ledger page (keyset by id, live and archived rows interleaved,
late rows of an archived month in DEFAULT), a request's entry, and meter usage over a range
that cuts through an archived month; and still answers, without the dropped rows, after an
operator dropped an archive table.

Its own database per test: retention detaches every month before its cut."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.postgres import archives, partitions
from gateway.stores.postgres.directory import Directory
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.stores.postgres.migrate import migrate
from gateway.stores.records import Row
from tests.integration.conftest import archive_as_before_022, schema_at, settled_row

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)  # retention's "now"
JAN, FEB, MAR = date(2018, 1, 1), date(2018, 2, 1), date(2018, 3, 1)
LIMITS = (1, 2, 3, 4, 7, 50)


def _at(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2018, month, day, hour, tzinfo=UTC)


def _row(
    acct: str, rid: str, at: datetime, cost: int = 100, kind: str = "debit", qty: int = 0
) -> tuple[object, ...]:
    return settled_row(acct, rid, cost, at, kind, qty=qty)


async def _account(stores: Stores) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    return acct


async def _write(stores: Stores, *rows: tuple[object, ...]) -> None:
    """One batch per row, so ids follow the order given."""
    for row in rows:
        assert await stores.ledger.write_settlements([row]) == 1


async def _walks(stores: Stores, acct: str) -> dict[int, list[list[Row]]]:
    """Every page of the account's ledger, for several page sizes."""
    walks = {}
    for limit in LIMITS:
        pages, before = [], None
        while page := await stores.ledger.entries(acct, before=before, limit=limit):
            pages.append(page)
            before = page[-1]["id"]
        walks[limit] = pages
    return walks


def _ids(walk: list[list[Row]]) -> list[int]:
    return [r["id"] for page in walk for r in page]


async def _interleaved(stores: Stores) -> tuple[str, str]:
    """Two accounts with rows in January and February 2018 and now, their ids interleaved
    across the months (a late February debit after live ones, a January row after
    February's)."""
    await partitions.add_months(stores.pool, [JAN, FEB])
    a, b = await _account(stores), await _account(stores)
    now = datetime.now(UTC)
    await _write(
        stores,
        _row(a, "a-jan-1", _at(10, 1)),
        _row(b, "b-feb-1", _at(3)),
        _row(a, "a-feb-1", _at(3)),
        _row(a, "a-jan-2", _at(20, 1)),
        _row(a, "a-now-1", now),
        _row(a, "a-feb-2", _at(27)),
        _row(b, "b-now-1", now),
        _row(a, "a-feb-late", _at(28, hour=23)),
        _row(a, "a-now-2", now),
    )
    await stores.ledger.credit(a, 5_000, "pay-1", "topup")
    return a, b


async def test_the_ledger_page_reads_archived_months_seamlessly(own: Stores) -> None:
    a, b = await _interleaved(own)
    before = {acct: await _walks(own, acct) for acct in (a, b)}
    every = _ids(before[a][50])
    assert len(every) == 8 and every == sorted(every, reverse=True)
    assert all(_ids(walk) == every for walk in before[a].values())  # no gap, no duplicate

    done = await retain(own, MAR, NOW)
    assert [m.archive for m in done] == ["ledger_archive_2018_01", "ledger_archive_2018_02"]
    for acct in (a, b):
        assert await _walks(own, acct) == before[acct]

    # A late January row lands in DEFAULT with the highest id; pages still follow ids.
    await _write(own, _row(a, "a-jan-late", _at(31, 1)))
    with_late = await _walks(own, a)
    assert _ids(with_late[50])[1:] == every
    assert all(_ids(walk) == _ids(with_late[50]) for walk in with_late.values())
    # ... and when January is archived again (a second table), nothing moves.
    await partitions.add_months(own.pool, [JAN])
    again = await retain(own, MAR, NOW)
    assert [m.archive for m in again] == ["ledger_archive_2018_01_2"]
    assert await _walks(own, a) == with_late


async def test_a_row_of_an_archived_month_in_default_keeps_its_place(own: Stores) -> None:
    a, _ = await _interleaved(own)
    await retain(own, FEB, NOW)  # January archived
    await _write(own, _row(a, "a-jan-late", _at(31, 1)))  # DEFAULT: January has no partition
    before = await _walks(own, a)
    assert len(_ids(before[50])) == 9
    await retain(own, MAR, NOW)  # February archived; the late January row stays in DEFAULT
    assert (
        await own.pool.fetchval(
            "SELECT count(*) FROM ledger_entries_default WHERE account_id = $1", a
        )
        == 1
    )
    assert await _walks(own, a) == before


async def test_a_full_live_page_touches_no_archive(own: Stores) -> None:
    a, _ = await _interleaved(own)
    await retain(own, MAR, NOW)
    newest = await own.ledger.entries(a, before=None, limit=2)
    assert [r["request_id"] for r in newest] == [None, "a-now-2"]  # the credit, then a debit
    async with own.pool.acquire() as lock, lock.transaction():
        # Any read of an archive would wait for this lock.
        await lock.execute(
            "LOCK TABLE ledger_archive_2018_01, ledger_archive_2018_02 IN ACCESS EXCLUSIVE MODE"
        )
        assert await asyncio.wait_for(own.ledger.entries(a, before=None, limit=2), 5) == newest
        deeper = own.ledger.entries(a, before=newest[-1]["id"], limit=2)
        try:  # the next page holds a late February debit: it must read the archive
            await asyncio.wait_for(deeper, 0.5)
            raise AssertionError("the page below the live rows did not read the archive")
        except TimeoutError:
            pass
    deeper_page = await own.ledger.entries(a, before=newest[-1]["id"], limit=2)
    assert [r["request_id"] for r in deeper_page] == ["a-feb-late", "a-feb-2"]


async def test_a_request_entry_is_found_in_its_archive(own: Stores) -> None:
    await partitions.add_months(own.pool, [JAN, FEB])
    a, b = await _account(own), await _account(own)
    await _write(
        own,
        _row(a, "r-debit", _at(5)),  # a debit archived with February
        _row(a, "r-void", _at(6, 1), kind="void", cost=0),  # a void archived with January
        _row(a, "r-void-then-late", _at(28, hour=23), kind="void", cost=0),
        _row(a, "r-void-then-late", _at(1, 3), cost=300),  # its late debit, live (DEFAULT)
        _row(a, "r-debit-then-void", _at(28, hour=22), cost=200),
        _row(a, "r-debit-then-void", _at(1, 3, hour=1), kind="void", cost=0),  # live
        _row(b, "r-of-b", _at(7)),
    )
    asked = [
        (a, rid)
        for rid in ("r-debit", "r-void", "r-void-then-late", "r-debit-then-void", "r-of-b", "nope")
    ] + [(b, "r-of-b"), (b, "r-debit")]
    before = [await own.directory().request_entry(acct, rid) for acct, rid in asked]
    assert [None if e is None else (e["kind"], e["amount_micros"]) for e in before] == [
        ("debit", -100), ("void", 0), ("debit", -300), ("debit", -200), None, None,
        ("debit", -100), None,
    ]  # fmt: skip
    await retain(own, MAR, NOW)
    assert [await own.directory().request_entry(acct, rid) for acct, rid in asked] == before


async def test_an_archived_request_reads_its_archives_in_one_statement(own: Stores) -> None:
    await partitions.add_months(own.pool, [JAN, FEB])
    a = await _account(own)
    await _write(own, _row(a, "r-jan", _at(5, 1)), _row(a, "r-feb", _at(5)))
    await retain(own, MAR, NOW)
    async with own.pool.acquire() as conn:
        said: list[str] = []
        conn.add_query_logger(lambda q: said.append(q.query))
        entry = await Directory(conn).request_entry(a, "r-jan")  # the older of two archives
        assert entry is not None and entry["request_id"] == "r-jan"
        await asyncio.sleep(0.01)  # query loggers are called soon after, not during
        assert sum("ledger_archive_" in q for q in said) == 1
        sql = "SELECT request_id FROM {table} WHERE account_id = $1"
        tables = ["ledger_archive_2018_01", "ledger_archive_2018_03", "ledger_archive_2018_02"]
        found = await archives.fetch_each(conn, tables, sql, a)  # 2018_03 is none (dropped)
        assert sorted(r["request_id"] for r in found) == ["r-feb", "r-jan"]
        assert await archives.fetch_each(conn, tables[1:2], sql, a) == []


async def test_meter_usage_reads_an_archived_month_the_range_cuts(own: Stores) -> None:
    await partitions.add_months(own.pool, [JAN, FEB])
    a = await _account(own)
    await _write(
        own,
        _row(a, "m-jan", _at(25, 1), cost=10, qty=1),
        _row(a, "m-feb-3", _at(3), cost=20, qty=2),
        _row(a, "m-feb-10", _at(10), cost=40, qty=4),
        _row(a, "m-feb-20", _at(20), cost=80, qty=8),
        _row(a, "llm-feb-11", _at(11), cost=1_000),  # not metered: never in meter usage
        _row(a, "m-now", datetime.now(UTC), cost=160, qty=16),
    )
    ranges = [
        (_at(5), _at(15)),
        (_at(5), None),
        (None, _at(15)),
        (_at(20, 1), _at(15)),
        (_at(1, hour=0), _at(1, 3, hour=0)),
        (None, None),
        (_at(10), _at(10)),
    ]
    meters = MeteringLedger(own.pool)

    async def usage() -> list[list[Row]]:
        return [await meters.meter_usage(a, since, until) for since, until in ranges]

    before = await usage()
    assert [[(r["quantity"], r["cost_micros"], r["events"]) for r in u] for u in before] == [
        [(4, 40, 1)], [(28, 280, 3)], [(7, 70, 3)], [(7, 70, 3)], [(14, 140, 3)],
        [(31, 310, 5)], [],
    ]  # fmt: skip
    await retain(own, MAR, NOW)
    assert await usage() == before

    # A late February debit in DEFAULT, then February archived a second time.
    await _write(own, _row(a, "m-feb-12", _at(12), cost=320, qty=32))
    with_late = await usage()
    assert with_late[0] == [
        {"meter": "gpu_seconds", "quantity": 36, "cost_micros": 360, "events": 2}
    ]
    await partitions.add_months(own.pool, [FEB])
    assert [m.archive for m in await retain(own, MAR, NOW)] == ["ledger_archive_2018_02_2"]
    assert await usage() == with_late


async def test_reads_skip_an_archive_table_an_operator_dropped(own: Stores) -> None:
    a, _ = await _interleaved(own)
    await retain(own, MAR, NOW)
    whole = await _walks(own, a)
    meters = MeteringLedger(own.pool)
    await _write(own, _row(a, "m-jan-late", _at(28, 1), cost=20, qty=2))  # DEFAULT
    await own.pool.execute("DROP TABLE ledger_archive_2018_02")

    kept = _ids(whole[50])
    left = await _walks(own, a)
    febs = {"a-feb-1", "a-feb-2", "a-feb-late"}
    gone = {r["id"] for page in whole[50] for r in page if r["request_id"] in febs}
    assert all(_ids(walk)[1:] == [i for i in kept if i not in gone] for walk in left.values())
    assert await own.directory().request_entry(a, "a-feb-1") is None
    jan = await own.directory().request_entry(a, "a-jan-1")
    assert jan is not None and jan["amount_micros"] == -100
    cut = await meters.meter_usage(a, _at(15, 1), _at(15))
    assert [(r["quantity"], r["events"]) for r in cut] == [(2, 1)]
    assert await archives.fetch(own.pool, "ledger_archive_2018_02", "SELECT * FROM {table}") == []

    # Archiving February again takes a new name: the dropped one's sums still hold it.
    await partitions.add_months(own.pool, [FEB])
    await _write(own, _row(a, "a-feb-again", _at(9)))
    assert [m.archive for m in await retain(own, MAR, NOW)] == ["ledger_archive_2018_02_2"]
    again = await own.directory().request_entry(a, "a-feb-again")
    assert again is not None and again["amount_micros"] == -100


async def test_migration_024_registers_months_archived_before_it() -> None:
    async with schema_at(23) as (_, conn):
        await conn.execute(
            "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id,"
            " occurred_at) VALUES ('a1', 'debit', -100, 'r1', '2019-05-02'),"
            " ('a1', 'debit', -40, 'r2', '2019-05-03')"
        )
        await archive_as_before_022(conn, "2019_05")
        assert await migrate(conn, upto=24) == ["024_ledger_archives.sql"]
        ids = await conn.fetchrow("SELECT min(id), max(id) FROM ledger_archive_2019_05")
        row = await conn.fetchrow("SELECT * FROM ledger_archives")
    assert (row["archive_table"], row["month"], row["entries"]) == (
        "ledger_archive_2019_05",
        date(2019, 5, 1),
        2,
    )
    assert (row["min_id"], row["max_id"]) == tuple(ids)
