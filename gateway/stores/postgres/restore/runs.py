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
import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from gateway.stores.postgres.deadline import closed_after
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


class RestoreFence:
    """The restore lock held *shared* by a settler while a batch it read from Redis is on
    its way to the ledger.

    A restore snapshots the ledger into an emptied Redis. A batch read from the Redis before
    it was emptied, committed after that snapshot, would be in the ledger and missing from
    the restored balances. Holding the lock shared from the read to the acknowledgement
    makes the restore (exclusive) wait for such a batch. The lock is kept across batches
    (two round trips per batch would double an idle settler's queries) and let go between
    batches once held `hold_s`, so a waiting restore gets it within about that long:
    PostgreSQL queues the settler's next request behind the restore's."""

    def __init__(self, pool: asyncpg.Pool, name: str, hold_s: float = 0.5) -> None:
        self._pool, self._name, self._hold_s = pool, name, hold_s
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._since = 0.0

    @property
    def due(self) -> bool:
        """Held long enough: let go after this batch (and read no batch ahead)."""
        return self._conn is not None and time.monotonic() - self._since >= self._hold_s

    async def hold(self) -> None:
        if self._conn is not None:
            return
        with map_postgres_errors():
            conn = await self._pool.acquire()
            try:
                await conn.execute(_LOCK_SHARED, self._name)
            except BaseException:
                await self._pool.release(conn)
                raise
        self._conn, self._since = conn, time.monotonic()

    async def let_go_if_due(self) -> None:
        if self.due:
            await self.let_go()

    async def let_go(self) -> None:
        """Release (also after an error: the batch in hand is no longer on its way)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            with map_postgres_errors(), closed_after(conn, UNLOCK_DEADLINE_S):
                await conn.execute(_UNLOCK_SHARED, self._name)
        finally:
            await self._pool.release(conn)


# An unlock is answered at once by a live server; a silent one has its connection closed
# (deadline.py), which frees the lock as surely.
UNLOCK_DEADLINE_S = 5.0
_LOCK_SHARED = "SELECT pg_advisory_lock_shared(hashtextextended($1, 0))"
_UNLOCK_SHARED = "SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))"


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
