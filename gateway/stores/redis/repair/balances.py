"""Reading an account's hot balance under a fence, and correcting it by a fenced delta.

`meterway reconcile --repair` must never erase a live debit: it reads Redis, then the
ledger, then writes. `position` reads the balance and its fence (the balance's change
counter, the applied-credit count) in one MULTI with the shard stream's newest id, then
pages the stream (XRANGE with COUNT, up to that id) for the account's queued settlements;
`repair` runs repair.lua, which applies the delta only while the fence holds. Any new
settlement of the account moved its balance (and the fence); one deleted by the settler
meanwhile was written to the ledger first, so the ledger read after it counts it.

A message the settler parked in the dead-letter stream is still owed (taken from the
balance, not in the ledger), so it counts as queued: the stream is paged first, then the
dead-letter stream, and the two are merged by (request id, kind), so a message parked while
the stream was paged is counted once. One going the other way (`--requeue`) moves the
balance's change counter (requeue.lua), which breaks the fence.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.stores.records import HotPosition
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.stream import stream_entries, text_of
from gateway.stores.redis.wire.scripts import load_script
from gateway.stores.stream_fields import queued

STREAM_PAGE = 1000
Settled = tuple[str, str]  # (request id, kind) of a settlement message
REPAIRED = 1


class BalanceRepair:
    def __init__(self, store: HotStore, page: int = STREAM_PAGE) -> None:
        self.store = store
        self.keys = store.keys
        self.page = page
        self._repair = load_script(store.redis, "repair")

    def _names(self, account_id: str) -> tuple[str, str]:
        s = shard_of(account_id)
        return self.keys.account(s, account_id), self.keys.credits(s, account_id)

    async def position(self, account_id: str) -> HotPosition | None:
        """The balance and its fence, read atomically, plus the account's queued
        settlements up to the fence; None when the account is not in Redis."""
        account, credits = self._names(account_id)
        stream = self.keys.stream(shard_of(account_id))
        with map_redis_errors():
            async with self.store.redis.pipeline(transaction=True) as pipe:
                pipe.hmget(account, ["bal", "seq"])
                pipe.xrevrange(stream, count=1)
                pipe.scard(credits)
                (bal, seq), newest, applied = await pipe.execute()
        if bal is None:
            return None
        newest_id = text_of(newest[0][0]) if newest else ""
        queued = await self._queued(stream, account_id, newest_id) if newest_id else {}
        parked = self.keys.dead_letters(shard_of(account_id))
        queued |= await self._queued(parked, account_id, "+")
        return HotPosition(account_id, int(bal), int(seq or 0), int(applied), queued)

    async def _queued(self, stream: str, account_id: str, newest: str) -> dict[Settled, int]:
        out: dict[Settled, int] = {}
        async for _, f in stream_entries(self.store.redis, stream, newest, self.page):
            q = queued(f)  # an unreadable message names no account: reconcile counts it apart
            if q is not None and q.account_id == account_id:
                out[(q.request_id, q.kind)] = q.cost_micros
        return out

    async def unapplied(self, account_id: str, entry_ids: Sequence[int]) -> list[int]:
        """Which of these ledger credit entries Redis has not applied."""
        if not entry_ids:
            return []
        _, credits = self._names(account_id)
        with map_redis_errors():
            found = await self.store.redis.smismember(credits, [str(i) for i in entry_ids])
        return [i for i, hit in zip(entry_ids, found, strict=True) if not hit]

    async def repair(self, pos: HotPosition, delta: int, credit_ids: Sequence[int]) -> bool:
        """Add `delta` to the balance and mark `credit_ids` applied, in one step, only if
        nothing moved since `pos` was read; False (nothing changed) otherwise."""
        args = (pos.balance, pos.seq, pos.applied_credits, delta)
        with map_redis_errors():
            done = await self._repair(self._names(pos.account_id), (*args, *credit_ids))
        return int(done) == REPAIRED
