"""A gateway's shutdown cannot wait forever on a PostgreSQL connection left acquired (a
settler task cancelled mid-release, say): the pool terminates it after its timeout."""

from __future__ import annotations

import time

import asyncpg

from gateway.stores.connect import close_pool


async def test_a_held_connection_is_terminated_after_the_timeout(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    held = await pool.acquire()  # never released
    await held.execute("SELECT pg_advisory_lock_shared(42)")
    began = time.monotonic()
    await close_pool(pool, timeout_s=0.5)
    assert time.monotonic() - began < 5
    other = await asyncpg.connect(dsn)
    try:  # the lock went with its connection
        assert await other.fetchval("SELECT pg_try_advisory_lock(42)")
    finally:
        await other.close()


async def test_a_pool_with_nothing_held_closes_at_once(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await conn.execute("SELECT 1")
    began = time.monotonic()
    await close_pool(pool, timeout_s=30)
    assert time.monotonic() - began < 2
