"""The settlement path's ports: the queue settle.lua fills and the ledger the settler empties
it into. The settler (workers/settler.py) depends on these only, so it runs unchanged on one
Redis or a Redis Cluster and a unit test can drive its batching with fakes.

Every method raises only store errors (`stores/errors.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.stores.records import Backlog, DeadLetter, Queued


class SettlementStream(Protocol):
    """The per-shard settlement streams, read through one consumer group.

    A message read is pending for this consumer until `ack`; one whose consumer died is taken
    over by `claim_stale`. Delivery is at least once: the ledger's unique request id makes a
    second write a no-op."""

    consumer: str

    async def ensure_groups(self) -> None:
        """Create the consumer group on every shard's stream (idempotent; a flushed Redis
        loses them)."""
        ...

    async def read(self, count: int, *, pending: bool, block_ms: int | None = None) -> list[Queued]:
        """Up to `count` messages per shard: this consumer's own unacknowledged ones when
        `pending`, else new ones (waiting up to `block_ms` when there are none)."""
        ...

    async def claim_stale(self, idle_ms: int, count: int) -> list[Queued]:
        """Take over messages another consumer read and left unacknowledged for `idle_ms`."""
        ...

    async def ack(self, messages: Sequence[Queued], written: int) -> None:
        """Acknowledge and delete messages whose rows are committed, and add `written` (the
        rows that were new) to the settlers' shared counter."""
        ...

    async def dead_letter(self, message: Queued, reason: str) -> bool:
        """Move a message the ledger cannot take to its shard's dead-letter stream with the
        reason, atomically with its acknowledgement; False when it was no longer pending
        (another settler wrote it meanwhile)."""
        ...

    async def backlog(self) -> Backlog:
        """How many settlements wait, and the oldest one's age."""
        ...

    async def dead_letter_count(self) -> int:
        """Messages parked in the dead-letter streams, over every shard."""
        ...

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """The parked messages, oldest first per shard, up to `limit` in all."""
        ...

    async def requeue(self, entry_ids: Sequence[str] | None = None) -> int:
        """Send parked messages (all, or these dead-letter entry ids) back to their stream,
        atomically per message; the number moved."""
        ...

    async def forget_idle_consumers(self, idle_ms: int) -> int:
        """Remove consumers with nothing pending, idle for `idle_ms`: the names of processes
        that are gone. The number removed."""
        ...


class SettlementLedger(Protocol):
    """The ledger's side of settlement."""

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        """Append a batch of settled rows in one transaction; rows whose (request id, kind)
        is present are skipped. Returns how many were new. Raises LedgerRejected when
        PostgreSQL refuses the data itself (a constraint, a value out of range): retrying
        the same batch cannot succeed."""
        ...


class RestoreFence(Protocol):
    """Held by a settler from reading a batch to acknowledging it, so that a restore of an
    emptied Redis snapshots the ledger only once no batch read from the old Redis is still
    on its way (stores/postgres/restore/runs.py)."""

    @property
    def due(self) -> bool:
        """Held long enough: the settler lets go after this batch and reads none ahead."""
        ...

    async def hold(self) -> None: ...

    async def let_go_if_due(self) -> None: ...

    async def let_go(self) -> None: ...
