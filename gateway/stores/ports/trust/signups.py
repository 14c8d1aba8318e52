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

    async def note(
        self, account_id: str, network: str, device: str, hold: str, check: str | None
    ) -> None:
        """What the sign-up was opened from (network, device hash) and its trial's hold
        (`none`, `card` or `refused`) with the check that refused it."""
        ...

    async def card(self, account_id: str, fingerprint: str, claim: bool) -> bool:
        """Record the card the sign-up verified; with `claim`, also make it the card that
        funds this sign-up's trial: True only when no other sign-up's trial was funded by
        it (a unique index decides, however concurrent) and this one had none yet."""
        ...

    async def hold(self, account_id: str, hold: str, check: str | None) -> None:
        """The trial's hold from now on (a card verification ends `card`)."""
        ...

    async def recent(self, days: int, limit: int) -> list[Row]:
        """Sign-ups opened in the last `days`, newest first, at most `limit`."""
        ...

    async def revoke_trial(self, account_id: str, by: str) -> bool:
        """An operator took the trial back: refused from now on (no card, approval or
        retry gives it), and a given one marked revoked by `by`. True when this call
        marked a given trial revoked."""
        ...
