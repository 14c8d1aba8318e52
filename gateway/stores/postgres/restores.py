"""The lock that makes Redis restores happen once, and the record of each restore.

The ledger is the source of truth and every gateway reaches it, so a PostgreSQL advisory
lock is where gateways queue: the first takes it and restores, the others wait on it, then
find Redis ready and restore nothing. It is a session lock on one pooled connection, so a
restorer that dies releases it with its connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors


@contextlib.asynccontextmanager
async def restore_lock(pool: asyncpg.Pool, name: str) -> AsyncIterator[None]:
    """Hold the restore lock of the Redis called `name` (waits while another holds it)."""
    with map_postgres_errors():
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", name)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", name)


async def record_restore(
    pool: asyncpg.Pool, prefix: str, trigger: str, counts: dict[str, int], started: datetime
) -> None:
    with map_postgres_errors():
        await pool.execute(
            "INSERT INTO redis_restores (redis_prefix, trigger, host, pid, accounts, keys,"
            " started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            prefix,
            trigger,
            socket.gethostname(),
            os.getpid(),
            counts.get("accounts", 0),
            counts.get("keys", 0),
            started,
        )
