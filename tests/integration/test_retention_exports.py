"""Usage exports across `meterway ledger retention`: a debit whose export failed, or was
never tried, before its month was archived is still delivered, once, to the local fakes of
Stripe and Lago. Its own database: retention detaches every month before the cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from gateway.ops.ledger_months import add_months, month_of, retain
from gateway.outbound.exports import LagoSink, StripeMeterSink, UsageSink
from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.postgres import partitions
from gateway.stores.postgres.migrate import migrate
from gateway.stores.postgres.usage.exports import ExportLedger
from gateway.stores.stream_fields import ledger_row
from gateway.workers.exporter import export_once
from tests.integration.conftest import archive_as_before_022, schema_at
from tests.support.fakes.meter_events import FakeBilling, running_fake

AGO = datetime.now(UTC) - timedelta(days=33)  # archivable, yet inside Stripe's 35 days
MONTH = month_of(AGO)
AFTER_RETENTION = datetime.combine(add_months(MONTH, 2), datetime.min.time(), UTC)


async def _three_debits(stores: Stores, ledger: ExportLedger) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    await ledger.set_customer(acct, "stripe", "cus_R1")
    await ledger.set_customer(acct, "lago", "sub_R1")
    await partitions.add_months(stores.pool, [MONTH])
    rows = []
    for i in range(3):
        ms = str(int((AGO + timedelta(minutes=i)).timestamp() * 1000))
        fields = {
            "rid": f"{acct}-{i}", "kind": "debit", "acct": acct, "key": "", "cost": "1000",
            "model": "demo-gpt", "provider": "openai", "in": "3", "cin": "0", "cw": "0",
            "out": "2", "rsn": "0", "src": "provider", "at": ms, "st": ms,
        }  # fmt: skip
        rows.append(ledger_row(fields))
    assert await stores.ledger.write_settlements(rows) == 3
    return acct


async def _failed_then_archived(
    stores: Stores, ledger: ExportLedger, sink: UsageSink, fake: FakeBilling
) -> datetime:
    """One batch of two: both fail at the receiver; the third debit is never tried. Then
    the month is archived. Returns an instant every retry is due at."""
    fake.fail_next = 2 if sink.target == "stripe" else 1  # a post per event, or per batch
    first = await export_once(ledger, sink, batch=2)
    assert (first.sent, first.failed) == (0, 2)
    done = await retain(stores, add_months(MONTH, 1), AFTER_RETENTION)
    assert MONTH in [m.month for m in done]
    assert MONTH not in await partitions.attached(stores.pool)
    return datetime.now(UTC) + timedelta(minutes=1)


async def test_stripe_export_failed_before_retention_is_delivered_once(own: Stores) -> None:
    ledger = ExportLedger(own.pool)
    acct = await _three_debits(own, ledger)
    async with running_fake("stripe") as fake, aiohttp.ClientSession() as http:
        sink = StripeMeterSink(http, "sk", "ev", fake.url)
        later = await _failed_then_archived(own, ledger, sink, fake)
        retried = await export_once(ledger, sink, now=lambda: later)
        assert (retried.sent, retried.failed, retried.expired) == (3, 0, 0)
        assert (await export_once(ledger, sink, now=lambda: later)).sent == 0
    assert sorted(fake.events) == [f"mw-debit-{acct}-{i}" for i in range(3)]
    assert fake.duplicates == 0 and fake.total() == 3000
    assert await ledger.counts("stripe", acct) == {"sent": 3}


async def test_lago_export_failed_before_retention_is_delivered_once(own: Stores) -> None:
    ledger = ExportLedger(own.pool)
    acct = await _three_debits(own, ledger)
    async with running_fake("lago") as fake, aiohttp.ClientSession() as http:
        sink = LagoSink(http, fake.url, "lago_key", "meterway_usage")
        later = await _failed_then_archived(own, ledger, sink, fake)
        retried = await export_once(ledger, sink, now=lambda: later)
        assert (retried.sent, retried.failed) == (3, 0)
        assert (await export_once(ledger, sink, now=lambda: later)).sent == 0
    assert sorted(fake.events) == [f"mw-debit-{acct}-{i}" for i in range(3)]
    assert fake.duplicates == 0 and fake.total("cost_micros") == 3000
    sample = fake.events[f"mw-debit-{acct}-0"]
    assert (sample["external_subscription_id"], sample["model"]) == ("sub_R1", "demo-gpt")
    assert await ledger.counts("lago", acct) == {"sent": 3}


async def test_migration_023_keeps_retries_of_months_archived_before_it() -> None:
    async with schema_at(22) as (dsn, conn):
        await conn.execute(
            "INSERT INTO export_customers (account_id, lago_subscription_id)"
            " VALUES ('a1', 'sub_M');"
            "INSERT INTO ledger_entries (id, account_id, kind, amount_micros, request_id,"
            " model, occurred_at) VALUES"
            " (1, 'a1', 'debit', -100, 'r1', 'm', '2019-05-02'),"  # failed, then archived
            " (2, 'a1', 'debit', -200, 'r2', 'm', '2019-05-03'),"  # archived, never tried
            " (3, 'a1', 'debit', -300, 'r3', 'm', now());"  # failed, live
            "INSERT INTO usage_exports (target, entry_id, status, next_at) VALUES"
            " ('lago', 1, 'failed', now()), ('lago', 3, 'failed', now())"
        )
        await archive_as_before_022(conn, "2019_05")
        assert (await migrate(conn))[0] == "023_export_snapshots.sql"  # and any later one
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            due = await ExportLedger(pool).due("lago", datetime.now(UTC) + timedelta(1), 10)
        finally:
            await pool.close()
    assert [(r.entry_id, r.request_id, r.cost_micros, r.customer) for r in due] == [
        (1, "r1", 100, "sub_M"),
        (2, "r2", 200, "sub_M"),
        (3, "r3", 300, "sub_M"),
    ]
