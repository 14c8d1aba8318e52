"""A month's FOCUS rows read from the real ledger: one account's or every one's, the same
rows once retention has archived the month, and a refusal naming the table once that
archive is dropped (its entries survive only as sums). Its own database: retention detaches
every month before its cut."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing.contracts.statements import Month
from billing.usage.focus import Issuer, Row, micros_of
from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.services.usage.focus.export import focus_pages
from gateway.stores.connect import Stores
from gateway.stores.errors import ArchiveGone
from gateway.stores.postgres import partitions
from tests.integration.conftest import settled_row

FEB = Month(2018, 2)


async def _rows(stores: Stores, account_id: str | None) -> list[Row]:
    rows: list[Row] = []
    async for page in focus_pages(stores.focus(), account_id, FEB, Issuer()):
        rows += page
    return rows


def _at(day: int) -> datetime:
    return datetime(2018, 2, day, 12, tzinfo=UTC)


async def test_a_month_reads_the_same_archived_and_is_refused_once_its_table_is_gone(
    own: Stores,
) -> None:
    stores = own
    await partitions.add_months(stores.pool, [date(2018, 1, 1), date(2018, 2, 1)])
    a, b = new_id("acct"), new_id("acct")
    for acct in (a, b):
        await stores.ledger.create_account(acct, f"name of {acct}", "pro", "prepaid")
    rows = [
        settled_row(a, "a1", 100, datetime(2018, 1, 9, tzinfo=UTC)),
        settled_row(a, "a2", 300, _at(2)),
        settled_row(a, "a3", 50, _at(9), qty=5),
        settled_row(b, "b1", 999, _at(5)),
    ]
    assert await stores.ledger.write_settlements(rows) == len(rows)

    live = await _rows(stores, a)
    assert [(r["x_RequestId"], r["SkuId"]) for r in live] == [
        ("a2", "demo-gpt"),
        ("a3", "meter/gpu_seconds"),
    ]  # fmt: skip  (no card registered for these rows: one whole row each)
    assert sum(micros_of(r["BilledCost"] or "") for r in live) == 350
    assert {r["BillingAccountName"] for r in live} == {f"name of {a}"}
    every = await _rows(stores, None)
    assert {r["BillingAccountId"] for r in every} == {a, b} and len(every) == 3

    await retain(stores, date(2018, 3, 1), datetime.now(UTC))
    assert await _rows(stores, a) == live
    assert await _rows(stores, None) == every

    await stores.pool.execute("DROP TABLE ledger_archive_2018_02")
    with pytest.raises(ArchiveGone) as gone:
        await _rows(stores, a)
    assert gone.value.table == "ledger_archive_2018_02"
