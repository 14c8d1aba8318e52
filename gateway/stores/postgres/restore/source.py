"""What `meterway rebuild` reads from PostgreSQL to restore Redis: accounts, keys, the
credit entries Redis applies by id, service keys and the closed metered ids."""

from __future__ import annotations

import asyncpg

from gateway.stores.meter_records import ServiceRecord
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import ClosedMarker, Row


async def accounts(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM accounts ORDER BY id")]


async def api_keys(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM api_keys ORDER BY id")]


async def credit_ids(pool: asyncpg.Pool) -> dict[str, list[int]]:
    """Per account, the ledger entries Redis applies by id (credit.lua): those without a
    request id (credits, refunds); settlements reach Redis first and carry one. Credits of
    archived months come from their guard rows (never archived), so a retry answered with
    an archived entry's id is not applied a second time."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT account_id, array_agg(id ORDER BY id) AS ids FROM ("
            " SELECT account_id, id FROM ledger_entries WHERE request_id IS NULL"
            " UNION SELECT account_id, entry_id FROM ledger_credit_keys) c GROUP BY account_id"
        )
    return {r["account_id"]: list(r["ids"]) for r in rows}


async def services(pool: asyncpg.Pool) -> list[tuple[str, ServiceRecord | None]]:
    """(key hash, record) of every service key; None for a revoked one (removed)."""
    with map_postgres_errors():
        rows = await pool.fetch("SELECT * FROM service_keys ORDER BY id")
    return [
        (
            r["key_hash"],
            None if r["revoked_at"] else ServiceRecord(r["id"], r["name"], tuple(r["meters"])),
        )
        for r in rows
    ]


_CLOSED = """
SELECT account_id, request_id, kind, coalesce(quantity, 0) AS quantity, -amount_micros AS cost,
    (extract(epoch FROM created_at - now()) * 1000)::bigint + $1 AS ttl
FROM {table} WHERE meter IS NOT NULL AND request_id IS NOT NULL
    AND created_at > now() - make_interval(secs => $1 / 1000.0)
"""


async def closed_markers(pool: asyncpg.Pool, ttl_ms: int) -> list[ClosedMarker]:
    """The metered ids closed within the marker's lifetime, from their ledger rows, live or
    in a month retention archived within that lifetime (the newest month it may detach
    ended a month ago, and a backdated event's row sits in its month, written today).

    settle.lua writes the marker when it closes the hold, a moment before the settler
    writes the row, so counting the lifetime from the row's created_at keeps it slightly
    longer, never shorter. A released hold leaves no ledger row and cannot be restored."""
    with map_postgres_errors():
        archives = await pool.fetch(
            "SELECT DISTINCT archive_table FROM ledger_archived_sums"
            " WHERE archived_at > now() - make_interval(secs => $1 / 1000.0)"
            " AND to_regclass(archive_table) IS NOT NULL ORDER BY 1",
            ttl_ms,
        )
        tables = ["ledger_entries", *(r["archive_table"] for r in archives)]
        rows = await pool.fetch(
            " UNION ALL ".join(_CLOSED.format(table=table) for table in tables), ttl_ms
        )
    return [
        ClosedMarker(
            r["account_id"], r["request_id"], r["kind"], r["quantity"], r["cost"], r["ttl"]
        )
        for r in rows
        if r["ttl"] > 0
    ]
