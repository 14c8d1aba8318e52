"""The port of price books' facts in the ledger (stores/postgres/contracts/books.py): which
accounts a
plan's book reaches, and the usage a book change's preview re-prices. The books themselves
are approved price changes (ports/prices.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from gateway.stores.records import Row


class BooksPort(Protocol):
    async def plan_accounts(self, plans: list[str]) -> dict[str, str]:
        """Every account on one of `plans`, with its plan."""
        ...

    async def usage_of(self, account_ids: list[str], since: datetime) -> list[Row]:
        """The debits of `account_ids` since `since`, one row per account, model and usage,
        with `calls` (the rows a price change's preview reads)."""
        ...
