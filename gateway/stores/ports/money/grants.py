"""Credit grants' ports: the PostgreSQL side (grants, their allocation) and the Redis side
(writing off a grant's rest from the hot balance); and the month of a ledger a statement reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from billing.contracts.statements import MonthLedger
from gateway.stores.records import GrantEnd, Row


class GrantsPort(Protocol):
    """Credit grants in the ledger (stores/postgres/money/grants.py)."""

    async def allocate(self, account_id: str) -> int:
        """Allocate the account's ledger entries not yet allocated to its grants, in id
        order; how many were."""
        ...

    async def last_entry_id(self) -> int:
        """The highest ledger entry id now."""
        ...

    async def entered_since(self, after_id: int, limit: int = 5000) -> list[tuple[int, str]]:
        """(id, account) of up to `limit` ledger entries after `after_id`, in id order."""
        ...

    async def behind(self, among: Sequence[str] | None = None) -> list[str]:
        """The accounts with entries not yet allocated: all (slow: for a periodic pass), or
        those of `among`."""
        ...

    async def ending(self, now: datetime, limit: int = 100) -> list[Row]:
        """Grants past their expiry or revoked and not yet closed, soonest first."""
        ...

    async def rest(self, grant_id: int) -> tuple[int, int]:
        """(remaining micros, write-off entries so far) of a grant."""
        ...

    async def close(self, grant_id: int, at: datetime) -> None:
        """Mark an ended grant with nothing left closed (no-op while it holds money)."""
        ...

    async def revoke(self, grant_id: int, at: datetime) -> Row | None:
        """Mark a grant revoked (its rest is written off after); None if there is none."""
        ...

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's grants, newest first."""
        ...

    async def get(self, grant_id: int) -> Row | None:
        """One grant, or None."""
        ...

    async def ends(self) -> dict[str, list[GrantEnd]]:
        """Per account, its grants with an end not yet closed and their remaining micros
        (rebuild and the self-restore write them to Redis)."""
        ...


class GrantWriteOffPort(Protocol):
    """Writing off a grant's rest from the hot balance (stores/redis/repair/grant_write_off.py)."""

    async def fence(self, account_id: str) -> int | None:
        """The balance's change counter, or None while a settlement of the account is still
        on its way to the ledger."""
        ...

    async def write_off(
        self,
        account_id: str,
        end: GrantEnd,
        request_id: str,
        seq: int,
        cause: str,
    ) -> int:
        """Take min(rest, balance - held) from the balance and queue its `expire` ledger row,
        only if the counter is still `seq`, and leave the grant's end holding the rest not
        taken: the micros taken, -1 if it moved, -2 if the account is not in Redis."""
        ...

    async def closed(self, account_id: str, grant_id: int) -> None:
        """The grant holds nothing any more: its end leaves the hot balance."""
        ...

    async def now_ms(self) -> int:
        """The gateway's clock in ms."""
        ...


class StatementsPort(Protocol):
    """A month of an account's ledger, for its statement
    (stores/postgres/contracts/statements.py)."""

    async def month(self, account_id: str, start: datetime, end: datetime) -> MonthLedger | None:
        """The balances at `start` and `end` and the entries between, grouped, read as one
        snapshot; None if there is no such account."""
        ...
