"""A reservation Redis lost (a restart without its data, a failover before replication),
found by a settle: its call's delivered usage is still debited, from what the account has
free, as a late debit after a void is (settle.lua's tombstone path).

`entomb` writes the void tombstone a sweeper's void would have left, with a record that
holds nothing (no hold, no counters: what Redis lost it cannot give back), so the next
settle of the request debits what is free and queues the rest as uncollected. `queued` tells
a reservation closed by this request's own earlier try (its debit is in the stream or parked
beside it) from one that was lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.stream import stream_entries
from gateway.stores.stream_fields import queued

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

TOMBSTONE_TTL_MS = 7 * 24 * 3600 * 1000  # as a void's (hotstore.py)


class LostReservations:
    def __init__(self, store: HotCore) -> None:
        self._store = store

    async def entomb(self, shard: int, account_id: str, key_id: str, request_id: str) -> bool:
        """Leave the tombstone a late debit finds (False: one is already there)."""
        at = await self._store.now_ms()
        # acct|key|held|r|i|o|at|meter|mq|service|on expiry|occurred at (records.py)
        record = "|".join((account_id, key_id, "0", "0", "0", "0", str(at), "", "0", "", "", ""))
        name = self._store.keys.voided(shard, request_id)
        with map_redis_errors():
            return bool(await self._store.redis.set(name, record, nx=True, px=TOMBSTONE_TTL_MS))

    async def queued(self, shard: int, request_id: str) -> bool:
        """Whether a debit of the request waits in its shard's stream or is parked beside it
        (read page by page: only on the rare path of a settle retried after a failed try)."""
        keys = self._store.keys
        for stream in (keys.stream(shard), keys.dead_letters(shard)):
            async for _, fields in stream_entries(self._store.redis, stream):
                found = queued(fields)
                if found is not None and found.request_id == request_id and found.kind == "debit":
                    return True
        return False
