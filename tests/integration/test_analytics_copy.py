"""The copy of the ledger to ClickHouse (the real engine, chdb, behind ClickHouse's HTTP
interface), from the ledger's own watermark: every entry lands once, through a batch whose
acknowledgement was lost (sent again, dropped by its insert token, in the table and in the
hourly rollup alike), an outage, a row that commits late below ids already committed, and
archived months; verify finds both stores equal per account and day, and names a
difference. Its own database: the copy reads every account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config.analytics import AnalyticsSettings
from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.services.usage.analytics_freshness import Freshness
from gateway.stores.clickhouse.analytics import ClickHouseAnalytics
from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.clickhouse.schema import LEDGER_COLUMNS
from gateway.stores.connect import Stores
from gateway.stores.errors import AnalyticsUnavailable
from gateway.stores.postgres import partitions
from gateway.workers.analytics_copy import Copier, differences
from tests.integration.conftest import settled_row
from tests.support.fakes.clickhouse import FakeClickHouse, running_clickhouse


class AckLost(ClickHouseAnalytics):
    """ClickHouse takes the batch, then the copier dies before the ledger hears of it."""

    async def insert_ledger(self, rows: Sequence[dict[str, Any]], token: str) -> None:
        await super().insert_ledger(rows, token)
        raise ConnectionResetError("copier killed after the insert")


@pytest.fixture
async def clickhouse(tmp_path: Path) -> AsyncIterator[FakeClickHouse]:
    async with running_clickhouse(tmp_path) as fake:
        yield fake


@pytest.fixture
async def store(clickhouse: FakeClickHouse) -> AsyncIterator[ClickHouseAnalytics]:
    settings = AnalyticsSettings(url=clickhouse.url, database="mw_test")
    async with aiohttp.ClientSession() as session:
        yield ClickHouseAnalytics(ClickHouseHttp(settings, session))


def _count(ch: FakeClickHouse) -> int:
    return int(ch.scalar("SELECT count() FROM mw_test.ledger FINAL"))


def _raw_count(ch: FakeClickHouse) -> int:
    return int(ch.scalar("SELECT count() FROM mw_test.ledger"))


async def _entries(stores: Stores) -> int:
    return int(await stores.pool.fetchval("SELECT count(*) FROM ledger_entries"))


async def test_every_entry_lands_once_through_a_lost_ack_an_outage_and_a_late_row(
    own: Stores, clickhouse: FakeClickHouse, store: ClickHouseAnalytics
) -> None:
    stores = own
    a, b = new_id("acct"), new_id("acct")
    for acct in (a, b):
        await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC)
    rows = [settled_row(a if i % 3 else b, f"r{i}", 10 + i, now) for i in range(25)]
    assert await stores.ledger.write_settlements(rows) == 25
    ledger = stores.analytics_copy()

    lost = Copier(ledger, AckLost(store.client), batch_rows=10)
    with pytest.raises(ConnectionResetError):
        await lost.round()
    assert _count(clickhouse) == 10  # the first batch got in; the ledger never heard
    copier = Copier(ledger, store, batch_rows=10)
    assert await copier.round() == 25  # the lost batch again, then the rest
    assert _raw_count(clickhouse) == 25 == await _entries(stores)  # dropped, not merged later
    assert await differences(ledger, store, await ledger.copied()) == []

    clickhouse.down = True
    await stores.ledger.write_settlements([settled_row(a, "during", 7, now)])
    with pytest.raises(AnalyticsUnavailable):
        await copier.round()
    clickhouse.down = False

    async with stores.pool.acquire() as late:  # takes an id, commits after higher ones do
        tx = late.transaction()
        await tx.start()
        await late.execute(
            "INSERT INTO ledger_entries (account_id, kind, amount_micros, reason)"
            " VALUES ($1, 'adjustment', 0, 'late')",
            a,
        )
        await stores.ledger.write_settlements([settled_row(b, "after", 5, now)])
        await copier.round()
        copied = await ledger.copied()
        assert _count(clickhouse) == 26  # "during" only: nothing past the open id yet
        late_id = await late.fetchval("SELECT max(id) FROM ledger_entries WHERE reason = 'late'")
        assert copied < late_id
        await tx.commit()
    for _ in range(3):  # the bound moves once the open transaction is seen ended
        await copier.round()
    assert _count(clickhouse) == 28 == await _entries(stores)
    assert await differences(ledger, store, await ledger.copied()) == []
    assert (await Freshness(ledger, store, max_lag_s=60).verdict()).lag_s == 0


async def test_archived_months_are_copied_and_verify_names_a_difference(
    own: Stores, clickhouse: FakeClickHouse, store: ClickHouseAnalytics
) -> None:
    stores = own
    await partitions.add_months(stores.pool, [date(2018, 1, 1), date(2018, 2, 1)])
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    old = [settled_row(acct, f"o{i}", 100, datetime(2018, 1, 3 + i, tzinfo=UTC)) for i in range(4)]
    assert await stores.ledger.write_settlements(old) == 4
    await retain(stores, date(2018, 3, 1), datetime.now(UTC))  # January leaves the ledger
    ledger = stores.analytics_copy()
    copier = Copier(ledger, store, batch_rows=2)
    assert await copier.round() == 4
    assert _count(clickhouse) == 4
    assert await differences(ledger, store, await ledger.copied()) == []

    clickhouse.engine.query(
        "INSERT INTO mw_test.ledger (id, account_id, kind, amount_micros, occurred_at)"
        f" VALUES (999999, '{acct}', 'debit', -1, '2018-01-05 00:00:00')"
    )
    found = await differences(ledger, store, 10**9)
    assert found and all(acct in line and "2018-01-05" in line for line in found)


class SecondBatchFails(ClickHouseAnalytics):
    """ClickHouse takes the first batch of a round, then goes away."""

    taken = 0

    async def insert_ledger(self, rows: Sequence[dict[str, Any]], token: str) -> None:
        if self.taken:
            raise AnalyticsUnavailable("clickhouse went away")
        await super().insert_ledger(rows, token)
        self.taken += 1


async def test_the_first_entry_of_a_fresh_ledger_is_copied_after_rounds_on_an_empty_one(
    own: Stores, clickhouse: FakeClickHouse, store: ClickHouseAnalytics
) -> None:
    """Rounds before any id was given out leave the bound at 0: a fresh sequence reads
    last_value 1, and a bound at 1 would pass over the first entry when it comes."""
    ledger = own.analytics_copy()
    copier = Copier(ledger, store, batch_rows=10)
    for _ in range(2):
        assert await copier.round() == 0
    assert await ledger.copied() == 0
    acct = new_id("acct")
    await own.ledger.create_account(acct, acct, "pro", "prepaid")
    await own.ledger.write_settlements([settled_row(acct, "first", 5, datetime.now(UTC))])
    assert await own.pool.fetchval("SELECT min(id) FROM ledger_entries") == 1
    for _ in range(2):
        await copier.round()
    assert _count(clickhouse) == 1 and copier.copied_rows == 1


async def test_a_round_that_fails_midway_counts_the_batches_it_copied(
    own: Stores, clickhouse: FakeClickHouse, store: ClickHouseAnalytics
) -> None:
    acct = new_id("acct")
    await own.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC)
    rows = [settled_row(acct, f"r{i}", 10 + i, now) for i in range(15)]
    assert await own.ledger.write_settlements(rows) == 15
    ledger = own.analytics_copy()
    copier = Copier(ledger, SecondBatchFails(store.client), batch_rows=10)
    with pytest.raises(AnalyticsUnavailable):
        await copier.round()
    assert copier.copied_rows == 10 == _count(clickhouse)
    copier.store = store
    assert await copier.round() == 5
    assert copier.copied_rows == 15 == _count(clickhouse)


async def test_a_store_made_before_tags_gains_them_and_the_tag_rollup(
    clickhouse: FakeClickHouse, store: ClickHouseAnalytics
) -> None:
    """The ledger table as it was made before tags: prepare adds the column and the tag
    rollup; the old rows read with no tags, a tagged row lands in both."""
    old = {n: k for n, k in LEDGER_COLUMNS.items() if n != "tags"}
    columns = ", ".join(f"{n} {k}" for n, k in old.items())
    await store.client.execute("CREATE DATABASE IF NOT EXISTS mw_test", in_database=False)
    await store.client.execute(
        f"CREATE TABLE mw_test.ledger ({columns}) ENGINE = ReplacingMergeTree"
        " PARTITION BY toYYYYMM(occurred_at) ORDER BY (account_id, id)"
    )
    await store.client.insert("mw_test.ledger", [_old_row(1)], "old")
    await store.prepare()
    await store.insert_ledger([{**_row(2), "tags": '{"cost_center": "cc-1"}'}], "new")
    rows = await store.client.select("SELECT id, tags FROM mw_test.ledger FINAL ORDER BY id")
    assert [(int(r["id"]), r["tags"]) for r in rows] == [(1, {}), (2, {"cost_center": "cc-1"})]
    spent = clickhouse.scalar(
        "SELECT sum(spend_micros) FROM mw_test.usage_tag_hourly WHERE tag_value = 'cc-1'"
    )
    assert int(spent) == 17


def _row(entry_id: int) -> dict[str, Any]:
    """A debit as the copy reads it from the ledger."""
    text = {n: "" for n, k in LEDGER_COLUMNS.items() if k == "String"}
    ints = {n: 0 for n, k in LEDGER_COLUMNS.items() if "Int64" in k}
    return {**text, **ints, "id": entry_id, "account_id": "acct_t", "kind": "debit",
            "amount_micros": -17, "provider": "openai", "provider_cost_micros": None,
            "occurred_at": datetime.now(UTC), "tags": None}  # fmt: skip


def _old_row(entry_id: int) -> dict[str, Any]:
    """A row as a copy before tags sent it."""
    row = {k: v for k, v in _row(entry_id).items() if k != "tags"}
    row["occurred_at"] = row["occurred_at"].strftime("%Y-%m-%d %H:%M:%S.%f")
    return row
