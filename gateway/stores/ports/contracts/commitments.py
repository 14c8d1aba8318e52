"""The ports of commitments: their terms and periods in PostgreSQL, their drawdown in the
hot store (reserve.lua holds, settle.lua draws). Every method raises only store errors."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.contracts.commitments import Closing, Terms, Tranche
from gateway.stores.records import Row


class CommitmentHotPort(Protocol):
    async def open(
        self, account_id: str, end_ms: int, allowance: int, terms: str, drawn: int = 0
    ) -> None:
        """Open the period ending at `end_ms` having drawn `drawn` (a rebuild's estimate);
        the open one takes the new terms and allowance and keeps what it drew."""
        ...

    async def allow(self, account_id: str, end_ms: int, allowance: int) -> bool:
        """Set the allowance of the open period when it is the one ending at `end_ms`."""
        ...

    async def close(
        self, account_id: str, end_ms: int, next_period: tuple[int, int, str] | None
    ) -> int | None:
        """What the period ending at `end_ms` drew, read and zeroed in one step as the next
        (end ms, allowance, hot terms; None: none) opens. Asked again, the same answer;
        None when the hot store knows nothing of that period (it was rebuilt)."""
        ...

    async def end(self, account_id: str) -> None:
        """Nothing is committed from now; calls still holding give their holds back."""
        ...

    async def fields(self, account_id: str) -> dict[str, str]:
        """The commitment's fields in the account's hash, as text (tests, support)."""
        ...


class CommitmentLedgerPort(Protocol):
    async def put(
        self, account_id: str, terms: Terms, start: datetime, end: datetime
    ) -> tuple[Row, Row]:
        """Set the account's commitment (new, or new terms from its open period) and open
        the period `start`..`end` if none is open; the commitment and its open period."""
        ...

    async def get(self, account_id: str) -> tuple[Row, Row | None] | None:
        """The account's commitment and its open period, or None."""
        ...

    async def stop(self, account_id: str) -> Row | None:
        """End the commitment with its open period; the commitment, None if there is none."""
        ...

    async def open_periods(self) -> list[Row]:
        """Every open period, with its commitment's terms (as `due` gives them)."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Open periods that ended by `now`, with their commitments' terms, oldest first."""
        ...

    async def record_close(
        self, commitment_id: int, start: datetime, closing: Closing, next_open: bool
    ) -> None:
        """Close the period once with its numbers and (`next_open`) open the next one with
        its commitment and the carried tranches; a repeat changes nothing."""
        ...

    async def drawn_in(self, account_id: str, start: datetime, end: datetime) -> int:
        """What the account's debits took in the period (a close's fallback when the hot
        store no longer knows the period)."""
        ...

    async def periods(self, commitment_id: int, limit: int = 24) -> list[Row]:
        """The commitment's periods, newest first."""
        ...

    async def taken(self, account_id: str, idempotency_key: str) -> int:
        """What the entry written under the key took from the account (0: none written)."""
        ...


def tranches_of(raw: object) -> tuple[Tranche, ...]:
    """A period's `rolled_in`/`carried` column: `[[remaining, ends ms], ...]`."""
    if not isinstance(raw, list):
        return ()
    return tuple(Tranche(int(r), int(e)) for r, e in raw)
