"""The metering ports: holds for non-LLM work and owners of stored responses.

What each call promises is in its docstring; every method raises only store errors
(`stores/errors.py`).
"""

from __future__ import annotations

from typing import Protocol

from billing.money.admission import Decision
from gateway.stores.meter_records import (
    Extended,
    MeterClosed,
    MeterHold,
    MeterOpen,
    OpenHold,
    ServiceRecord,
)
from gateway.stores.records import OwnedFile, OwnedResponse

MeterDecision = Decision | MeterClosed | MeterOpen


class ResponseOwners(Protocol):
    """Who created each Responses API response, and the background ones still running."""

    async def record(self, owned: OwnedResponse, poll_at_ms: int) -> None:
        """Remember the owner; a pending response is due a poll from `poll_at_ms` on."""
        ...

    async def get(self, response_id: str) -> OwnedResponse | None: ...

    async def settled(self, response_id: str, cost_micros: int | None = None) -> None:
        """Its reservation is closed: never polled again; the owner is kept, with the debit
        its settlement queued (`cost_micros`, None when nothing was debited)."""
        ...

    async def due(self, now_ms: int, limit: int = 100) -> list[str]:
        """Ids of pending responses whose poll time has come."""
        ...

    async def poll_later(self, response_id: str, at_ms: int) -> None: ...

    async def hold(self, owned: OwnedResponse, until_ms: int) -> None:
        """Move the open reservation's deadline so the sweeper does not void it."""


class FileOwners(Protocol):
    """Who uploaded each batch file, with what its lines may cost, or whose batch made it."""

    async def put(self, rec: OwnedFile) -> None: ...

    async def get(self, file_id: str) -> OwnedFile | None: ...


class MeterHoldsPort(Protocol):
    """Metered holds on the reservation engine (`stores/redis/holds/meters.py`): the same
    reserve and settle scripts, stream and ledger as LLM calls."""

    async def hold(self, h: MeterHold) -> MeterDecision:
        """Reserve in one round trip; refusals hold nothing. An id already open answers
        MeterOpen, one already closed MeterClosed: a metered id is charged at most once."""
        ...

    async def open_hold(self, request_id: str) -> OpenHold | None:
        """The open hold behind a metered id, or None once closed (or never made)."""
        ...

    async def settle(
        self, request_id: str, quantity: int, cost_micros: int, asked: int | None = None
    ) -> bool:
        """Debit and queue the ledger row atomically; False when already closed. `asked`, the
        quantity the caller asked for, is kept with the closed marker (`MeterClosed.asked`)."""
        ...

    async def release(self, request_id: str) -> bool:
        """Give back the hold; nothing is billed. False when already closed."""
        ...

    async def expire(self, request_id: str) -> bool:
        """Close by the meter's expiry policy (charge the hold, or void)."""
        ...

    async def closed(self, request_id: str) -> MeterClosed | None:
        """How a metered id was closed, while its closed marker lasts."""
        ...

    async def extend(
        self, request_id: str, service: str, *, ttl_ms: int, max_quantity: int, hold_micros: int
    ) -> Extended | Decision | None:
        """New deadline now + ttl; a larger max quantity is held and counted or refused.
        None when the id is not open for this service."""
        ...

    async def put_service(self, key_hash: str, record: ServiceRecord | None) -> None:
        """Publish a service key to every gateway process, or withdraw it (None)."""
        ...

    async def lookup_service(self, key_hash: str) -> ServiceRecord | None:
        """The service whose key hashes to `key_hash`, or None."""
        ...
