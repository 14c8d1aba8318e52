"""asyncpg errors become store errors here, and only here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from gateway.stores.errors import LedgerRejected, LedgerUnavailable, StoreError
from gateway.telemetry import metrics

# Lost, refused or never-made connections (OSError covers ConnectionRefusedError and
# TimeoutError): the ledger is away, not the data wrong.
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
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
            raise LedgerUnavailable(str(exc)) from exc
        if isinstance(exc, REJECTED):
            raise LedgerRejected(str(exc)) from exc
        raise StoreError(str(exc)) from exc
