"""The copy of the ledger to the analytics store: the ledger's side (stores/postgres/
analytics_copy.py) and the store's (stores/clickhouse/analytics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

DaySums = dict[tuple[str, str], tuple[int, int]]  # (account, UTC day) -> (entries, micros)


class AnalyticsLedgerPort(Protocol):
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

    async def acknowledged(self, last: int, now: datetime) -> None:
        """The store has every entry up to `last`."""
        ...

    async def oldest_uncopied(self, after: int) -> datetime | None:
        """When the oldest entry above `after` was written (None: there is none)."""
        ...

    async def day_sums(self, through: int) -> DaySums: ...


class AnalyticsStorePort(Protocol):
    async def prepare(self) -> None:
        """Make the store's tables if missing."""
        ...

    async def insert_ledger(self, rows: Sequence[dict[str, Any]], token: str) -> None:
        """Rows in as one batch; the same token again is dropped."""
        ...

    async def day_sums(self, through: int) -> DaySums: ...

    async def hourly_day_sums(self) -> DaySums: ...
