"""The port of the response cache's entries: answers kept per owner (the account whose calls
share them, or its organization), within the owner's byte budget, looked up on the owner's
shard beside the call's reservation.

Which answers may be kept and under which key is billing/cache's rule; the store keeps
bytes. Every method raises only store errors (`stores/errors.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Kept:
    """What a keep did: whether the answer was kept, and how many entries made room for it."""

    kept: bool
    evicted: int


@dataclass(frozen=True, slots=True)
class CacheHeld:
    """An owner's entries (expired ones not yet dropped included), or those a purge dropped,
    and their bytes."""

    entries: int
    bytes: int


class CacheEntriesPort(Protocol):
    async def lookup(self, shard: int, owner_id: str, cache_key: str, now_ms: int) -> bytes | None:
        """The answer kept under `cache_key`, or None: none, or expired by `now_ms` (Redis's
        clock as the call's admission read it)."""
        ...

    async def keep(
        self,
        shard: int,
        owner_id: str,
        cache_key: str,
        answer: bytes,
        *,
        ttl_ms: int,
        now_ms: int,
        budget_bytes: int,
        max_entry_bytes: int,
        key_id: str,
        model: str,
    ) -> Kept:
        """Keep `answer` for `ttl_ms` (> 0), replacing an entry under the same key; the
        owner's expired entries go first, then those that expire soonest, until it fits
        `budget_bytes`. An answer over `max_entry_bytes` or the budget is not kept. The
        owner's entries never hold more than its budget, whatever keeps run at once."""
        ...

    async def purge(
        self, shard: int, owner_id: str, *, key_id: str = "", model: str = ""
    ) -> CacheHeld:
        """Drop the owner's entries: all of them, or those one key stored, or one model's;
        what was dropped."""
        ...

    async def held(self, shard: int, owner_id: str) -> CacheHeld:
        """The owner's entries and their bytes."""
        ...
