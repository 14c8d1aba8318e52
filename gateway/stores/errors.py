"""What the stores raise, whatever library sits underneath.

    StoreError
    ├── StoreUnavailable          the store could not be reached or failed mid-command
    │   ├── HotStoreUnavailable   Redis: billable work must stop (fail closed)
    │   └── LedgerUnavailable     PostgreSQL: the ledger waits, serving goes on
    ├── LedgerRejected            PostgreSQL refused the data itself (constraint, bad value)
    ├── ArchiveSchemaMismatch     an archive table's columns differ from the ledger's
    ├── DuplicateCredit           an idempotency key was reused for a different credit
    └── BalanceTooLow             money taken out is more than the account has

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


class ArchiveSchemaMismatch(StoreError):
    """A table `ledger_archives` lists lacks, adds or retypes a column of `ledger_entries`:
    the migration runner refuses the schema (stores/postgres/ledger_shape.py), since the
    archive reads would otherwise answer archived rows unlike live ones."""


class DuplicateCredit(StoreError):
    """An idempotency key was reused for a different credit; `first_micros` is the amount
    it was first used for, so the answer can name both."""

    def __init__(self, idempotency_key: str, first_micros: int) -> None:
        super().__init__(idempotency_key)
        self.idempotency_key = idempotency_key
        self.first_micros = first_micros


class BalanceTooLow(StoreError):
    """Money taken out (a negative adjustment) is more than the account has;
    `most_micros` is the most that could be taken."""

    def __init__(self, most_micros: int) -> None:
        super().__init__(f"at most {most_micros} micros can be taken")
        self.most_micros = most_micros


class DuplicateExternalId(StoreError):
    """Another account already has this external id."""


class DuplicateMember(StoreError):
    """The account already has a member with this e-mail."""


class DuplicateTeam(StoreError):
    """The account already has a team with this name."""
