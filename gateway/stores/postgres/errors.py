"""asyncpg errors become store errors here, and only here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from gateway.stores.errors import LedgerRejected, LedgerUnavailable, StoreError

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
    """Like httpx's map_httpcore_exceptions: one translation for every ledger statement."""
    try:
        yield
    except UNREACHABLE as exc:
        raise LedgerUnavailable(str(exc)) from exc
    except REJECTED as exc:
        raise LedgerRejected(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        raise StoreError(str(exc)) from exc
