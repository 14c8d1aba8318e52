"""The operator API right after PostgreSQL killed the gateway's connections
(pg_terminate_backend on a real server): reads are tried once more on a fresh connection
and answer 200; a write that met a dead connection answers 503, never 500, and its retry
lands once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.support.factories import tenant
from tests.support.harness import PG_ADMIN, Gateway


async def _kill_connections(gw: Gateway) -> int:
    """Terminate every backend of the gateway's database (the harness's pool included)."""
    database = gw.settings.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    assert killed > 0
    return int(killed)


@pytest.mark.timeout(480)
async def test_reads_after_killed_connections_are_retried(gw: Gateway) -> None:
    t = await tenant(gw)
    for path in (
        f"/admin/v1/accounts/{t.account_id}",
        f"/admin/v1/accounts/{t.account_id}/ledger",
        f"/admin/v1/accounts?q={t.account_id}",
        f"/admin/v1/accounts/{t.account_id}/keys",
    ):
        await _kill_connections(gw)
        status, body = await gw.admin("GET", path)
        assert status == 200, (path, body)


@pytest.mark.timeout(480)
async def test_a_write_whose_connection_is_killed_is_a_503_and_a_retry_lands(
    gw: Gateway,
) -> None:
    """The plan change waits on a row lock we hold; its backend is terminated while it
    waits, so the write meets the kill itself."""
    t = await tenant(gw, credit=0)
    database = gw.settings.database_url.rsplit("/", 1)[1]
    holder = await asyncpg.connect(gw.settings.database_url)
    admin = await asyncpg.connect(PG_ADMIN)
    path, plan = f"/admin/v1/accounts/{t.account_id}/plan", {"plan": "enterprise"}
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", t.account_id)
        change = asyncio.create_task(gw.admin("PUT", path, plan))
        waiting = None
        for _ in range(200):
            waiting = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type ="
                " 'Lock' AND query LIKE 'UPDATE accounts%'",
                database,
            )
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting, "the plan change never waited on the lock"
        await admin.execute("SELECT pg_terminate_backend($1)", waiting)
        status, body = await change
        assert status == 503, body
        assert body["error"]["code"] == "service_unavailable"
        await lock.rollback()
    finally:
        await holder.close()
        await admin.close()
    status, body = await gw.admin("PUT", path, plan)
    assert status == 200, body
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert body["plan"] == "enterprise"


@pytest.mark.timeout(480)
async def test_a_credit_after_killed_connections_lands_once(gw: Gateway) -> None:
    """Its account is read first (and retried), so the write then has a live connection."""
    t = await tenant(gw, credit=0)
    credit = {"amount_micros": 7_000, "idempotency_key": "after-kill", "reason": "test"}
    await _kill_connections(gw)
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{t.account_id}/credits", credit)
    assert status == 201, body
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert (body["balance_micros"], body["ledger_balance_micros"]) == (7_000, 7_000)
