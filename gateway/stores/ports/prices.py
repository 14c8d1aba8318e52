"""The ports of price changes (stores/postgres/proof/price_changes.py) and of the rate cards debits
name (stores/postgres/pricing/price_versions.py), as the price desk
(services/proof/price_changes.py) uses
them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from gateway.stores.records import Row


class PriceChangesPort(Protocol):
    """Changes proposed, approved or rejected (migration 093); each decided once."""

    async def propose(
        self,
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
        proposed_by: str,
    ) -> Row:
        """A pending change; `review` holds its `diff`, `preview` and `largest_move_permille`."""
        ...

    async def get(self, change_id: int) -> Row | None: ...

    async def listing(self, status: str | None = None) -> list[Row]:
        """Changes by status (every one when None), newest first."""
        ...

    async def approved(self) -> list[Row]:
        """Every approved change, in the order they take effect."""
        ...

    async def decide(self, change_id: int, status: str, decided_by: str) -> Row | None:
        """Approve or reject a pending change; None when it is not pending (any more)."""
        ...

    async def account(self, account_id: str) -> Row | None:
        """The account's row (plan, own markup, any scheduled one); None: no such account."""
        ...

    async def account_usage_since(self, account_id: str, since: datetime) -> list[Row]:
        """The account's debits of models since `since`, one row per usage, with `calls`."""
        ...

    async def approve_markup(
        self, change_id: int, decided_by: str, account_id: str, own: int | None, at: datetime
    ) -> tuple[Row | None, Row | None]:
        """Approve a pending markup change and schedule it on its account at `at`, at once:
        (the change, the account); (None, _) when the change is not pending, (_, None) when
        another markup change of the account is scheduled and not in force yet (nothing
        written either way)."""
        ...

    async def due_markups(self) -> list[Row]:
        """Fold each scheduled markup now in force into its account; the accounts changed."""
        ...

    async def usage_since(self, models: list[str], since: datetime) -> list[Row]:
        """The debits of `models` since `since`, one row per account and usage, with `calls`."""
        ...

    async def add_refusals(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add calls refused for unpriced models, by (model, account)."""
        ...

    async def unpriced(self, since: datetime, limit: int = 100) -> list[Row]:
        """Refused models seen since `since`, most called first (calls, accounts, first_seen,
        last_seen)."""
        ...

    async def account_markups(self, account_ids: list[str]) -> dict[str, tuple[str, int | None]]:
        """Each account's plan and its own markup (None: its plan's)."""
        ...


class RateCardsPort(Protocol):
    async def register(self, cards: Mapping[str, Mapping[str, object]]) -> None:
        """Record every card (version -> JSON-able card) not yet known."""
        ...


class ConfigCardsPort(Protocol):
    """The cards each start's configuration bills (migration 102)."""

    async def approved(self) -> tuple[str, dict[str, Any]] | None:
        """(digest, cards) of the approved configuration card; None before any start."""
        ...

    async def baseline(self, digest: str, cards: Mapping[str, Any]) -> bool:
        """Record the first approved card unless one exists; True if recorded."""
        ...

    async def file(
        self,
        digest: str,
        cards: Mapping[str, Any],
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """The change (proposed by `config`) that moves the approved card to `cards`: the one
        already waiting for them, else a new pending one; (its id, whether it is new)."""
        ...


class PlanMarkupsPort(Protocol):
    """Plans' approved markups and the reviewed changes of them (migration 105)."""

    async def approved(self) -> dict[str, tuple[int, tuple[int, datetime] | None]]:
        """Each recorded plan's approved markup and the one scheduled to follow (bps, from),
        those in force folded first."""
        ...

    async def baseline(self, markups: Mapping[str, int]) -> None:
        """Record each plan not seen before at its configured markup, as approved."""
        ...

    async def file(
        self,
        plan: str,
        bps: int,
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """The change (proposed by `config`) moving the plan's markup to `bps`: the one
        waiting, else a new pending one; (its id, whether it is new)."""
        ...

    async def approve(
        self, change_id: int, decided_by: str, plan: str, bps: int, at: datetime
    ) -> tuple[Row | None, list[str] | None]:
        """Approve and schedule on the plan at once: (the change, None); (None, None) when
        it is not pending; (the change, blocking accounts, [] for the plan's own) when a
        markup change already waits (nothing written)."""
        ...

    async def following(self, plan: str) -> list[Row]:
        """The accounts on the plan with no markup of their own."""
        ...

    async def usage_since(self, plan: str, since: datetime, at: datetime) -> list[Row]:
        """The debits since `since` of the accounts following the plan's markup at `at`."""
        ...
