"""The copy of the ledger to the analytics store: the ledger's side (stores/postgres/
analytics_copy.py) and the store's (stores/clickhouse/analytics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

DaySums = dict[tuple[str, str], tuple[int, int]]  # (account, UTC day) -> (entries, micros)


@dataclass(frozen=True)
class Watermark:
    """The ledger's record of the copy: the store it counts (its marker; None before any),
    every entry at or below `copied_through` is there, its highest id is at least `high`
    and at most `sent` (the batch in flight included); `oldest` is when the oldest entry
    above `copied_through` was written (None: none is)."""

    target_id: str | None
    copied_through: int
    high: int
    sent: int
    oldest: datetime | None


@dataclass(frozen=True)
class Target:
    """What the store says of itself: its marker ('' when it has none) and its highest
    entry id (0 when empty)."""

    marker: str
    high: int


class AnalyticsLedgerPort(Protocol):
    def turn(self, wait: bool) -> AbstractAsyncContextManager[bool]:
        """The copy's turn, one process at a time: whether this one has it (`wait`: once
        the process holding it is done)."""
        ...

    async def watermark(self) -> Watermark:
        """The copy's record, in one read."""
        ...

    async def retarget(self, target_id: str) -> None:
        """The store is the empty one marked `target_id`: copy again from the first entry."""
        ...

    async def copied(self) -> int:
        """Every entry at or below this id is in the store."""
        ...

    async def advance_safe(self) -> int:
        """Move the bound below which every entry id has committed (or never will)."""
        ...

    async def next_batch(self, limit: int) -> tuple[int, int] | None:
        """The id range (after, last] to send: the unacknowledged one, else the next."""
        ...

    async def rows(self, after: int, last: int) -> list[dict[str, Any]]:
        """Every entry with an id in the range, live or archived."""
        ...

    async def acknowledged(self, last: int, now: datetime, high: int) -> None:
        """The store has every entry up to `last`, and its highest id is at least `high`."""
        ...

    async def oldest_uncopied(self, after: int) -> datetime | None:
        """When the oldest entry above `after` was written (None: there is none)."""
        ...

    async def day_sums(self, through: int) -> DaySums: ...


class AnalyticsStorePort(Protocol):
    async def prepare(self) -> None:
        """Make the store's database, tables and marker if missing."""
        ...

    async def identity(self, for_report: bool = False) -> Target:
        """The store's marker and highest entry id, read back from it (`for_report`:
        within a report's read timeout)."""
        ...

    async def reset(self) -> str:
        """Empty the store and mark it anew; the new marker."""
        ...

    async def insert_ledger(self, rows: Sequence[dict[str, Any]], token: str) -> None:
        """Rows in as one batch; the same token again is dropped."""
        ...

    async def day_sums(self, through: int) -> DaySums: ...

    async def hourly_day_sums(self) -> DaySums: ...
