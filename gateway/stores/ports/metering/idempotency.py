"""The port of idempotency keys' first uses (stores/postgres/metering/idempotency.py)."""

from __future__ import annotations

from typing import Protocol

from gateway.stores.audit_records import FirstUse


class IdempotencyPort(Protocol):
    """What a key was first used for, per account; the shared check is
    services/metering/idempotency.py."""

    async def claim(self, account_id: str, key: str, use: FirstUse) -> FirstUse | None:
        """Record `use` as the key's first use unless it has one; None when this call
        recorded it, else the first use recorded (a concurrent claim waits for the first)."""
        ...

    async def release(self, account_id: str, key: str, fingerprint: str) -> None:
        """Forget a first use this caller recorded (its operation was refused, so nothing
        happened under the key); another fingerprint's use is left as it is."""
        ...
