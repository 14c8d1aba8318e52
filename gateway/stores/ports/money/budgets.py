"""The organization's ports: end-user budgets and teams in the ledger database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from billing.money.quotas import Quota
from gateway.stores.records import Row


class EndUserBudgetsPort(Protocol):
    """End-user budgets in PostgreSQL (stores/postgres/money/end_user_budgets.py). An owner is
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


class TeamsPort(Protocol):
    """Teams in PostgreSQL (stores/postgres/keys/teams.py); rows carry quotas as JSON objects."""

    async def create(self, account_id: str, name: str, quotas: Sequence[Quota]) -> Row:
        """A new team; DuplicateTeam when the account has one of that name."""
        ...

    async def get(self, team: str) -> Row | None:
        """One team, or None."""
        ...

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's teams by name, each with `keys`, how many live keys it has."""
        ...

    async def set_quotas(self, team: str, quotas: Sequence[Quota]) -> tuple[Row, list[Row]]:
        """The team with new quotas, and its keys (id, account_id) to copy them to."""
        ...

    async def set_tags(self, team: str, tags: Mapping[str, str]) -> Row | None:
        """Replace a team's tags; the team, or None."""
        ...

    async def set_key_team(self, key_id: str, team: str | None) -> None:
        """Put a key in a team (None: in none)."""
        ...

    async def key_teams(self) -> list[Row]:
        """Every key in a team: id, account_id, team_id and the team's quotas."""
        ...
