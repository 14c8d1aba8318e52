"""The copy knows which ClickHouse holds its rows (issue 70): a fresh server gets its
database, schema and marker on the first round; another database, a new server, a lost
volume, a store restored from an older backup and a ledger restored behind its store are
each emptied and filled again from the ledger, every entry once and the rollups equal to
the rows; and the freshness check says what a report reader would meet: lag that grows
while ClickHouse is down, refuses writes or hangs, and PostgreSQL meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from gateway.config.analytics import AnalyticsSettings
from gateway.services.auth import new_id
from gateway.services.usage.analytics_freshness import Freshness
from gateway.stores.clickhouse.analytics import ClickHouseAnalytics
from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.connect import Stores
from gateway.stores.postgres.usage.analytics_copy import AnalyticsCopy
from gateway.workers.analytics_copy import Copier, differences
from tests.integration.conftest import settled_row
from tests.support.fakes.clickhouse import FakeClickHouse, running_clickhouse

READ_S = 1.0


@pytest.fixture
async def clickhouse(tmp_path: Path) -> AsyncIterator[FakeClickHouse]:
    async with running_clickhouse(tmp_path) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _store(ch: FakeClickHouse, http: aiohttp.ClientSession, db: str) -> ClickHouseAnalytics:
    settings = AnalyticsSettings(url=ch.url, database=db, read_timeout_s=READ_S)
    return ClickHouseAnalytics(ClickHouseHttp(settings, http))


async def _ledger(stores: Stores, n: int) -> AnalyticsCopy:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC)
    rows = [settled_row(acct, f"r{i}-{acct}", 10 + i, now) for i in range(n)]
    assert await stores.ledger.write_settlements(rows) == n
    return stores.analytics_copy()


async def _entries(stores: Stores) -> int:
    return int(await stores.pool.fetchval("SELECT count(*) FROM ledger_entries"))


async def _copied(
    stores: Stores, ch: FakeClickHouse, http: aiohttp.ClientSession, db: str, n: int
) -> Copier:
    """A ledger of `n` entries copied to `db` in batches of 5 by a first round."""
    copier = Copier(await _ledger(stores, n), _store(ch, http, db), batch_rows=5)
    assert await copier.round() == n
    return copier


async def _exactly_once(ch: FakeClickHouse, db: str, stores: Stores, copier: Copier) -> None:
    """Every entry in the store once (no repeat even before a merge), rollup equal."""
    entries = await _entries(stores)
    assert int(ch.scalar(f"SELECT count() FROM {db}.ledger")) == entries
    assert await differences(copier.ledger, copier.store, await copier.ledger.copied()) == []


async def test_a_fresh_server_gets_its_database_schema_and_marker_on_the_first_round(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    copier = await _copied(own, clickhouse, http, "fresh_db", 7)
    marker = clickhouse.scalar("SELECT id FROM fresh_db.meterway_target")
    assert marker and (await copier.ledger.watermark()).target_id == marker
    await _exactly_once(clickhouse, "fresh_db", own, copier)


async def test_another_database_a_new_server_and_a_lost_volume_are_filled_again(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    first = await _copied(own, clickhouse, http, "db_a", 12)
    other = Copier(first.ledger, _store(clickhouse, http, "db_b"), batch_rows=5)
    assert await other.round() == 12  # not "0 copied": db_b is not the store counted
    assert other.refills == 1
    await _exactly_once(clickhouse, "db_b", own, other)
    assert await first.round() == 12  # back to db_a: emptied, then filled again
    await _exactly_once(clickhouse, "db_a", own, first)

    clickhouse.replace()  # a new server at the same address, or the volume lost
    verdict = await Freshness(first.ledger, first.store, max_lag_s=3600).verdict()
    assert verdict.target is None and "not the store" in verdict.reason
    assert verdict.lag_s > 0  # every entry: the new server has none of them
    assert await first.round() == 12
    assert first.refills == 2
    await _exactly_once(clickhouse, "db_a", own, first)
    assert await first.round() == 0  # and then it is the store counted


async def test_a_store_restored_from_an_older_backup_is_filled_again(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    copier = await _copied(own, clickhouse, http, "mw", 8)
    marker = clickhouse.scalar("SELECT id FROM mw.meterway_target")
    clickhouse.engine.query("TRUNCATE TABLE mw.ledger")  # the marker kept, the rows older
    assert await copier.round() == 8 and copier.refills == 1
    assert clickhouse.scalar("SELECT id FROM mw.meterway_target") != marker
    await _exactly_once(clickhouse, "mw", own, copier)


async def test_a_ledger_restored_behind_its_store_empties_the_store_first(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    """PostgreSQL from a backup taken before the store's last batches: the store holds ids
    the watermark never sent, which the ledger may give to other entries."""
    copier = await _copied(own, clickhouse, http, "mw", 6)
    await own.pool.execute(
        "UPDATE analytics_copy SET copied_through = 4, target_high = 4, batch_last = NULL"
    )
    assert await copier.round() == 6 and copier.refills == 1
    await _exactly_once(clickhouse, "mw", own, copier)


async def _verdict(fresh: Freshness) -> tuple[float, str]:
    verdict = await fresh.verdict(fresh=True)
    assert verdict.serve is (verdict.target is not None)
    return verdict.lag_s, verdict.reason


async def test_lag_grows_while_clickhouse_is_down_refuses_writes_or_hangs(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    ledger = await _ledger(own, 3)
    store = _store(clickhouse, http, "mw")
    copier = Copier(ledger, store, batch_rows=10)
    await copier.round()
    fresh = Freshness(ledger, store, max_lag_s=0)
    assert await _verdict(fresh) == (0.0, "")
    await _ledger(own, 1)  # an entry the store lacks from now on

    for fail in ("down", "read_only", "hung"):
        clickhouse.fail(fail)
        with pytest.raises(Exception):  # noqa: B017 - AnalyticsUnavailable, or the timeout's
            await asyncio.wait_for(copier.round(), READ_S * 3)
        started = time.monotonic()
        lag, reason = await _verdict(fresh)
        assert time.monotonic() - started < READ_S + 1  # a hung store costs the read timeout
        await asyncio.sleep(0.2)
        later, _ = await _verdict(fresh)
        assert 0 < lag < later, fail
        expected = "lags" if fail == "read_only" else "did not answer"
        assert expected in reason, (fail, reason)
        clickhouse.fail(fail, False)
    await copier.round()
    assert await _verdict(fresh) == (0.0, "")


async def test_a_store_emptied_under_a_read_never_answers_it(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    ledger = await _ledger(own, 3)
    store = _store(clickhouse, http, "mw")
    await Copier(ledger, store, batch_rows=10).round()
    fresh = Freshness(ledger, store, max_lag_s=60)
    approved = await fresh.serving()
    assert approved is not None and await fresh.still(approved)
    await store.reset()  # what a copy filling it again does first
    assert not await fresh.still(approved)
    assert await fresh.serving() is not None  # the cached verdict: the read's check decides


async def test_one_process_copies_at_a_time(
    own: Stores, clickhouse: FakeClickHouse, http: aiohttp.ClientSession
) -> None:
    """Another process's turn (it may be emptying the store to fill it again) makes a round
    a no-op; the CLI's backfill waits for it instead."""
    ledger = await _ledger(own, 4)
    copier = Copier(ledger, _store(clickhouse, http, "mw"), batch_rows=10)
    other = AnalyticsCopy(own.pool)
    async with other.turn(wait=False) as mine:
        assert mine
        assert await copier.round() == 0
        waiting = asyncio.create_task(copier.round(wait=True))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    assert await waiting == 4
    await _exactly_once(clickhouse, "mw", own, copier)
