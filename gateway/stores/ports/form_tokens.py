"""The port of the dashboard's single-use form tokens (stores/postgres/form_tokens.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

# spent: this call spent it; already: spent before (or by a concurrent call); expired: its
# time is up, unspent; unknown: no such token for this holder and action.
Outcome = Literal["spent", "already", "expired", "unknown"]


class FormTokensPort(Protocol):
    """Tokens a form carries once: bound to a holder (a session) and an action (the path
    the form posts to), spent at most once, forgotten a day after they expire."""

    async def mint(self, holder: str, actions: Sequence[str], ttl_s: int) -> list[str]:
        """One new token per action, in order, stored unspent for `ttl_s` seconds."""
        ...

    async def spend(self, token: str, holder: str, action: str) -> tuple[Outcome, str | None]:
        """Spend the token if this holder may for this action; of two concurrent calls
        exactly one answers `spent`. With `already`, the result the first spend recorded
        (None while it is still running)."""
        ...

    async def peek(self, token: str, holder: str, action: str) -> tuple[Outcome, str | None]:
        """What `spend` would answer, changing nothing (`spent` meaning: still spendable)."""
        ...

    async def settle(self, token: str, result: str, fields: str = "") -> None:
        """Record where the spent token's submit led, and what it asked (`fields`)."""
        ...

    async def fields_of(self, token: str) -> str | None:
        """What the spent token's submit asked, as `settle` recorded it (None: nothing)."""
        ...

    async def release(self, token: str) -> None:
        """Unspend a token whose submit was refused, so nothing happened under it."""
        ...
