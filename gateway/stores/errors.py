"""What the stores raise, whatever library sits underneath.

    StoreError
    ├── StoreUnavailable          the store could not be reached or failed mid-command
    │   ├── HotStoreUnavailable   Redis: billable work must stop (fail closed)
    │   └── LedgerUnavailable     PostgreSQL: the ledger waits, serving goes on
    ├── LedgerRejected            PostgreSQL refused the data itself (constraint, bad value)
    └── DuplicateCredit           an idempotency key was reused for a different credit

Redis and asyncpg exceptions are translated into these once, where they enter (see
`stores/redis/errors.py` and `stores/postgres/errors.py`), with the library error kept as
`__cause__`; nothing outside `gateway/stores/` catches a library exception.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store-level failure."""


class StoreUnavailable(StoreError):
    """Transient: retrying later may succeed. Client-facing, this is a 503."""


class HotStoreUnavailable(StoreUnavailable):
    """Redis could not be reached or answered with an error; billable work must stop."""


class LedgerUnavailable(StoreUnavailable):
    """PostgreSQL could not be reached or dropped the connection."""


class LedgerRejected(StoreError):
    """PostgreSQL refused a statement for its data (permanent: retrying will not help)."""


class DuplicateCredit(StoreError):
    """An idempotency key was reused for a different credit."""


class DuplicateExternalId(StoreError):
    """Another account already has this external id."""
