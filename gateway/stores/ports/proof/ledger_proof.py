"""The ledger's proof as a port (stores/postgres/proof/ledger_proof.py): which entries may be
sealed, their leaves, and the checkpoints that seal them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from billing.proof.ledger_proof import Checkpoint, Leaf, LeafValue


@dataclass(frozen=True)
class SealedCheckpoint:
    """A checkpoint as stored: its fields, the head it was given and its signature."""

    checkpoint: Checkpoint
    head: str
    kid: str | None
    signature: str | None
    sealed_at: datetime


@dataclass(frozen=True)
class ArchiveGap:
    """An archive table an operator dropped: its entries' ids can no longer be read."""

    table: str
    min_id: int
    max_id: int


class LedgerProofPort(Protocol):
    async def advance_safe(self) -> int:
        """Move the bound at or below which every entry id has committed or never will."""
        ...

    async def last(self) -> SealedCheckpoint | None:
        """The newest checkpoint; None before the first."""
        ...

    async def next_range(self, after: int, limit: int) -> int | None:
        """The last id of the next range to seal after `after`: at most `limit` entries, up
        to the safe bound; None when nothing safe is left to seal."""
        ...

    def leaves(self, after: int, last: int) -> AsyncIterator[Sequence[LeafValue]]:
        """Every entry with an id in (after, last], live or archived, by id, as leaf values."""
        ...

    async def add(self, sealed: SealedCheckpoint, leaves: Sequence[Leaf] = ()) -> bool:
        """Store a checkpoint and the leaves it sealed (ids and hashes, in order), in one
        transaction; False when one with its number exists already (another process
        sealed it first)."""
        ...

    async def sealed_leaves(self, seq: int) -> list[Leaf] | None:
        """The leaves checkpoint `seq` sealed, as stored; None for one sealed before they
        were kept."""
        ...

    def checkpoints(self) -> AsyncIterator[SealedCheckpoint]:
        """Every checkpoint, oldest first."""
        ...

    async def dropped_archives(self) -> list[ArchiveGap]:
        """Archive tables retention made that are no longer there."""
        ...

    async def covering(self, entry_id: int) -> SealedCheckpoint | None:
        """The checkpoint whose range holds this entry id; None before one does."""
        ...

    async def leaf(self, entry_id: int) -> Sequence[LeafValue] | None:
        """One entry's leaf values, live or archived; None when there is none."""
        ...


class ReceiptHeaderPort(Protocol):
    async def opted_in(self) -> frozenset[str]:
        """The accounts that asked for a receipt on each answer."""

    async def set_receipt_header(self, account_id: str, enabled: bool) -> bool:
        """Turn it on or off for an account; False when there is no such account."""
