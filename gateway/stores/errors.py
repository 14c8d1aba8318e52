"""What the stores raise, whatever library sits underneath.

    StoreError
    ├── StoreUnavailable          the store could not be reached or failed mid-command
    │   ├── HotStoreUnavailable   Redis: billable work must stop (fail closed)
    │   ├── LedgerUnavailable     PostgreSQL: the ledger waits, serving goes on
    │   └── AnalyticsUnavailable  ClickHouse: the copy waits, nothing else does
    │       └── AnalyticsMissing  it answers, without Meterway's database or tables
    ├── JournalUnavailable        the local settlement journal's disk refused a write
    ├── LedgerRejected            PostgreSQL refused the data itself (constraint, bad value)
    ├── ArchiveSchemaMismatch     an archive table's columns differ from the ledger's
    ├── ArchiveGone               a month's archive table was dropped: not itemized any more
    ├── DuplicateCredit           an idempotency key was reused for a different credit
    ├── BalanceTooLow             money taken out is more than the account has
    └── LineTooLow                a credit line below what the account already uses

Redis and asyncpg exceptions are translated into these once, where they enter (see
`stores/redis/errors.py` and `stores/postgres/errors.py`), with the library error kept as
`__cause__`; nothing outside `gateway/stores/` catches a library exception.
"""

from __future__ import annotations


def cause(exc: BaseException) -> str:
    """A library error as a store error's text, never blank: a bare TimeoutError says
    nothing by itself, and every retry's warning names its cause (its kind, at least)."""
    return str(exc) or f"{type(exc).__name__} (no message)"


class StoreError(Exception):
    """Base of every store-level failure."""


class StoreUnavailable(StoreError):
    """Transient: retrying later may succeed. Client-facing, this is a 503."""


class HotStoreUnavailable(StoreUnavailable):
    """Redis could not be reached or answered with an error; billable work must stop."""


class LedgerUnavailable(StoreUnavailable):
    """PostgreSQL could not be reached or dropped the connection."""


class AnalyticsUnavailable(StoreUnavailable):
    """ClickHouse could not be reached or refused a statement: the copy to it waits and
    retries, and reports read PostgreSQL meanwhile."""


class AnalyticsMissing(AnalyticsUnavailable):
    """ClickHouse answered that the database or a table does not exist (Code 81 or 60): a
    new server, a lost volume or another database, which the copy makes and fills."""


class JournalUnavailable(StoreError):
    """The settlement journal (stores/journal.py) could not append or fsync: its disk is
    full or failing. The settlement stays with its retries, as before the journal."""


class LedgerRejected(StoreError):
    """PostgreSQL refused a statement for its data (permanent: retrying will not help)."""


class DuplicateService(LedgerRejected):
    """A service of that name already exists."""


class ArchiveSchemaMismatch(StoreError):
    """A table `ledger_archives` lists lacks, adds or retypes a column of `ledger_entries`:
    the migration runner refuses the schema (stores/postgres/ledger_shape.py), since the
    archive reads would otherwise answer archived rows unlike live ones."""


class ArchiveGone(StoreError):
    """A month's entries were archived by retention and their table dropped: they survive
    only as sums per kind, so nothing that lists entries one by one can answer for it."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


class DuplicateCredit(StoreError):
    """An idempotency key was reused for a different credit; `first_micros` is the amount
    it was first used for, so the answer can name both."""

    def __init__(self, idempotency_key: str, first_micros: int) -> None:
        super().__init__(idempotency_key)
        self.idempotency_key = idempotency_key
        self.first_micros = first_micros


class BalanceTooLow(StoreError):
    """Money taken out (a negative adjustment, a refund) is more than the account has free
    (its balance less what is held); `most_micros` is the most that could be taken."""

    def __init__(self, most_micros: int) -> None:
        super().__init__(f"at most {most_micros} micros can be taken")
        self.most_micros = most_micros


class BalanceTooHigh(StoreError):
    """Money put in would take the balance past the most a balance may be (2^53 - 1 micros:
    the hot store's Lua numbers are exact only up to there, and an account past it could
    not be served); `most_micros` is the most that could still be put in."""

    def __init__(self, most_micros: int) -> None:
        super().__init__(f"at most {most_micros} micros can be put in")
        self.most_micros = most_micros


class LineTooLow(StoreError):
    """A lower credit line would leave the account below its floor (what it has less what
    is held is already under minus the line); `least_micros` is the lowest line it may have."""

    def __init__(self, least_micros: int) -> None:
        super().__init__(f"the credit line can go down to {least_micros} micros")
        self.least_micros = least_micros


class DuplicateExternalId(StoreError):
    """Another account already has this external id."""


class DuplicateMember(StoreError):
    """The account already has a member with this e-mail."""


class OnlyOwner(StoreError):
    """The change would leave an organization that has an owner with none (its only
    accepted owner removed or given another role)."""


class DomainTaken(StoreError):
    """Another organization has proven this domain."""


class DuplicateTeam(StoreError):
    """The account already has a team with this name."""


class DuplicateScim(StoreError):
    """The organization's directory already has a user of this userName (or one for the
    same member), or a group of this displayName."""
