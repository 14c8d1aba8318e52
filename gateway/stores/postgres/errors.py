"""asyncpg errors become store errors here, and only here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import asyncpg

from gateway.stores.errors import LedgerRejected, LedgerUnavailable, StoreError, cause
from gateway.telemetry import metrics

T = TypeVar("T")

# Lost, refused or never-made connections (OSError covers ConnectionRefusedError and
# TimeoutError): the ledger is away, not the data wrong.
# A connection killed under a pooled client (pg_terminate_backend, a restarted server)
# surfaces as an operator-intervention error (57P01) or, when the kill lands between two
# protocol steps, as asyncpg's InternalClientError: the connection is gone, not the data bad.
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InternalClientError,
)
REJECTED = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


@contextmanager
def map_postgres_errors() -> Iterator[None]:
    """Like httpx's map_httpcore_exceptions: one translation for every ledger statement
    (each one counted in meterway_store_errors_total)."""
    try:
        yield
    except (*UNREACHABLE, *REJECTED, asyncpg.PostgresError) as exc:
        metrics().store_errors.labels("postgres").inc()
        if isinstance(exc, UNREACHABLE):
            raise LedgerUnavailable(cause(exc)) from exc
        if isinstance(exc, REJECTED):
            raise LedgerRejected(str(exc)) from exc
        raise StoreError(str(exc)) from exc


async def read_once_more(pool: asyncpg.Pool, read: Callable[[], Awaitable[T]]) -> T:
    """An idempotent read whose connection turned out dead is tried once more on a fresh
    one: the pool's connections are expired first, so the retry cannot draw another killed
    connection. A second failure is LedgerUnavailable (503). Writes never come here: a
    write that may have reached the server is not repeated blindly."""
    try:
        with map_postgres_errors():
            return await read()
    except LedgerUnavailable:
        await pool.expire_connections()
    with map_postgres_errors():
        return await read()
