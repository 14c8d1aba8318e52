"""Writing off a credit grant's rest in Redis (write_off.lua), under the balance's fence.

The keeper (workers/grant_keeper.py) reads the fence first (`fence`: the balance's change
counter, and nothing of the account still queued for the ledger), then allocates the
account in PostgreSQL and reads the grant's rest, then calls `write_off` with that fence:
an unchanged counter means every balance change is in the ledger and allocated, so the rest
is exact.
"""

from __future__ import annotations

from gateway.stores.records import GrantEnd
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.repair.balances import BalanceRepair
from gateway.stores.redis.wire.scripts import load_script

MOVED, ABSENT = -1, -2  # write_off.lua's replies besides the amount written off


class GrantWriteOffs:
    """Implements `stores.ports.GrantWriteOffPort`."""

    def __init__(self, store: HotStore) -> None:
        self.store = store
        self._position = BalanceRepair(store)
        self._script = load_script(store.redis, "write_off")

    async def fence(self, account_id: str) -> int | None:
        """The balance's change counter, or None while a settlement of the account is still
        queued (or parked) on its way to the ledger, or the account is not in Redis."""
        pos = await self._position.position(account_id)
        return None if pos is None or pos.queued else pos.seq

    async def write_off(
        self, account_id: str, end: GrantEnd, request_id: str, seq: int, cause: str
    ) -> int:
        """Micros written off and queued (0: reservations hold it all), or MOVED / ABSENT;
        the grant's end keeps the rest not taken (what reservations hold)."""
        s, keys = shard_of(account_id), self.store.keys
        names = (keys.account(s, account_id), keys.stream(s), keys.clock(s))
        clock, grant = self.store.clock_flag, end.grant_id
        args = (request_id, account_id, grant, end.rest_micros, seq, clock, cause, end.end_ms)
        with map_redis_errors():
            return int(await self._script(names, args))

    async def closed(self, account_id: str, grant_id: int) -> None:
        await self.store.set_grant_end(account_id, GrantEnd(grant_id, 0, 0))

    async def now_ms(self) -> int:
        """The gateway's clock (Redis time, plus the test clock's offset)."""
        return await self.store.now_ms()
