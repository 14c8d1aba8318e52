"""A deadline that closes the connection rather than cancelling the statement.

A PostgreSQL that went away without a word reaching the gateway (half-open: a crashed host,
a firewall that dropped the connection) leaves each pooled connection open and silent.
Cancelling a statement on it does not free it: the transaction's ROLLBACK and the pool's
reset then wait on the same silence, for good (a settler stuck so never drains its backlog
when PostgreSQL returns). Closing the connection ends every wait on it at once with a lost
connection (LedgerUnavailable: retried), and the pool replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg


@contextmanager
def closed_after(conn: asyncpg.Connection, seconds: float) -> Iterator[None]:
    """Terminate `conn` if the block has not ended within `seconds`."""
    timer = asyncio.get_running_loop().call_later(seconds, conn.terminate)
    try:
        yield
    finally:
        timer.cancel()
