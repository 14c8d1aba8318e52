"""End-user budgets' port: their durable copy in the ledger database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from billing.quotas import Quota
from gateway.stores.records import Row


class EndUserBudgetsPort(Protocol):
    """End-user budgets in PostgreSQL (stores/postgres/end_user_budgets.py). An owner is
    (account, key id, end user): ('', '') the account's default for every end user, a key
    id its keys' default, an end user its own budget."""

    async def put(
        self, account_id: str, key_id: str, end_user: str, quotas: Sequence[Quota]
    ) -> Row | None:
        """Set one owner's budget (quotas as JSON objects in the row); no quotas removes
        it and answers None."""
        ...

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's budgets, its default first."""
        ...

    async def every(self) -> list[Row]:
        """Every budget of every account."""
        ...
