"""The people who signed themselves up (`signups`, one row per normalized address)."""

from __future__ import annotations

from typing import Protocol

from gateway.stores.records import Row


class SignupsPort(Protocol):
    async def claim(self, address: str, email: str, via: str) -> bool:
        """Take the address for a new sign-up: True for the one caller that did (it opens
        the account), False when the address signed up before (however concurrently)."""
        ...

    async def get(self, address: str) -> Row | None: ...

    async def bind(self, address: str, account_id: str, status: str) -> None:
        """The account the claim opened, and its status (pending or active), in one
        transaction with `accounts.signup_status`."""
        ...

    async def of_account(self, account_id: str) -> Row | None:
        """The sign-up behind an account (with `status`), None for an operator's account."""
        ...

    async def listed(self, status: str | None, limit: int) -> list[Row]:
        """Sign-ups, newest first, with their account's status; `status` keeps one."""
        ...

    async def decide(self, account_id: str, status: str, by: str) -> Row | None:
        """A pending account's sign-up approved (`active`) or `rejected` by `by`; None when
        it is not pending (decided already, or no sign-up)."""
        ...

    async def take_trial(self, account_id: str) -> bool:
        """Mark the sign-up's trial given: True the first time, False ever after."""
        ...
