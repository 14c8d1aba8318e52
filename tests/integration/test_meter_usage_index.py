"""Meter usage is read from a covering index that every month's partition has, present and
future (migration 021), so a busy metered account's month is an index-only aggregate."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.ops.ledger_months import ensure_ahead
from gateway.stores.connect import Stores

COVERING = "INCLUDE (meter, quantity, amount_micros)"


async def partitions_without_the_index(stores: Stores) -> list[str]:
    rows = await stores.pool.fetch(
        "SELECT c.relname, coalesce(bool_or(i.indexdef LIKE '%' || $1 || '%'), false) AS has"
        " FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
        " LEFT JOIN pg_indexes i ON i.tablename = c.relname"
        " WHERE h.inhparent = 'ledger_entries'::regclass GROUP BY c.relname",
        COVERING,
    )
    assert rows, "the ledger has partitions"
    return [r["relname"] for r in rows if not r["has"]]


async def test_every_partition_has_the_meter_usage_index(stores: Stores) -> None:
    await ensure_ahead(stores, datetime(2033, 6, 10, tzinfo=UTC), 1)  # new months too
    assert await partitions_without_the_index(stores) == []
