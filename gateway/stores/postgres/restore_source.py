"""What `meterway rebuild` reads from PostgreSQL to restore Redis: accounts, keys, the
credit entries Redis applies by id, service keys and the closed metered ids."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import ClosedMarker, Row, ServiceRecord


async def accounts(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM accounts ORDER BY id")]


async def api_keys(pool: asyncpg.Pool) -> list[Row]:
    with map_postgres_errors():
        return [dict(r) for r in await pool.fetch("SELECT * FROM api_keys ORDER BY id")]


async def credit_ids(pool: asyncpg.Pool) -> dict[str, list[int]]:
    """Per account, the ledger entries Redis applies by id (credit.lua): those without a
    request id (credits, refunds); settlements reach Redis first and carry one."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT account_id, array_agg(id ORDER BY id) AS ids FROM ledger_entries"
            " WHERE request_id IS NULL GROUP BY account_id"
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


async def closed_markers(pool: asyncpg.Pool, ttl_ms: int) -> list[ClosedMarker]:
    """The metered ids closed within the marker's lifetime, from their ledger rows.

    settle.lua writes the marker when it closes the hold, a moment before the settler
    writes the row, so counting the lifetime from the row's created_at keeps it slightly
    longer, never shorter. A released hold leaves no ledger row and cannot be restored."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT account_id, request_id, kind, coalesce(quantity, 0) AS quantity,"
            " -amount_micros AS cost,"
            " (extract(epoch FROM created_at - now()) * 1000)::bigint + $1 AS ttl"
            " FROM ledger_entries WHERE meter IS NOT NULL AND request_id IS NOT NULL"
            " AND created_at > now() - make_interval(secs => $1 / 1000.0)",
            ttl_ms,
        )
    return [
        ClosedMarker(
            r["account_id"], r["request_id"], r["kind"], r["quantity"], r["cost"], r["ttl"]
        )
        for r in rows
        if r["ttl"] > 0
    ]
