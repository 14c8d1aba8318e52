"""Debiting a call whose reservation Redis lost: the settle that finds it gone (the first
try's answer, or a retry's once neither the stream nor the ledger has the request's debit)
leaves the tombstone a void would have, and the settle after it debits the delivered usage
from what the account has free, the rest uncollected (stores/redis/holds/lost.py). So the cost an
answer shows is always what its settlement debits and leaves uncollected, whatever Redis
lost and however late its answer came."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.stores.records import PendingDebit


class LostReservations(Protocol):
    """What the hot store keeps of reservations it lost (stores/redis/holds/lost.py)."""

    async def queued(self, shard: int, request_id: str) -> bool: ...

    async def entomb(self, shard: int, account_id: str, key_id: str, request_id: str) -> bool: ...


class KeepsLost(Protocol):
    @property
    def lost(self) -> LostReservations: ...


class DebitGuards(Protocol):
    async def debited(self, request_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class LostDebits:
    """Implements `services.settlement.Rebook` on the two stores."""

    store: KeepsLost
    ledger: DebitGuards

    async def recorded(self, p: PendingDebit) -> bool:
        """Whether the request's debit is queued, parked, or in the ledger: the stream is
        read first, since the settler writes the ledger before it takes a message off it."""
        if await self.store.lost.queued(p.shard, p.request_id):
            return True
        return await self.ledger.debited(p.request_id)

    async def entomb(self, p: PendingDebit, key_id: str) -> None:
        await self.store.lost.entomb(p.shard, p.account_id, key_id, p.request_id)
