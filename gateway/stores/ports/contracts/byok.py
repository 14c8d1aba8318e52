"""What bring-your-own-key asks of PostgreSQL (`stores/postgres/contracts/byok.py`, migration 103):
the customers' keys as ciphertext, each account's BYOK version, the platform fee, and the
once-a-window notice of a key its provider refused. Plaintext never crosses this port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.stores.records import Row


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One account's key for one upstream, as stored: ciphertext only."""

    account_id: str
    upstream: str
    ciphertext: bytes


class ByokPort(Protocol):
    async def everything(self) -> tuple[list[StoredKey], dict[str, int], tuple[int, int] | None]:
        """Every stored key, every account's version, and the fee ((bps, fixed micros), None
        while the operator never set one): what each process reads whole on a clock."""
        ...

    async def put(self, account_id: str, upstream: str, ciphertext: bytes, hint: str) -> int:
        """Store or replace an account's key for `upstream` (clearing a failing mark); the
        account's new version."""
        ...

    async def remove(self, account_id: str, upstream: str) -> int | None:
        """Delete an account's key for `upstream`: its new version, None when it had none."""
        ...

    async def of_account(self, account_id: str) -> list[Row]:
        """The account's keys as shown: upstream, hint, created_at, updated_at,
        failing_since; never the ciphertext."""
        ...

    async def holders(self, upstream: str | None) -> list[Row]:
        """Which accounts hold a key, for one upstream or all: account_id, upstream, hint,
        updated_at, failing_since."""
        ...

    async def set_fee(self, bps: int, fixed_micros: int) -> tuple[int, int] | None:
        """Set the platform fee; the one it replaced (None: none was set)."""
        ...

    async def rejected(
        self, account_id: str, upstream: str, hint: str, window_s: int, event: str
    ) -> bool:
        """The provider refused this key: mark it failing, and queue `event` to its owner
        unless one was queued within `window_s`; True when one was queued."""
        ...
