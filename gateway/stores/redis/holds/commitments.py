"""An account's commitment in its Redis hash: the wire format's Python home (commitment.lua).

reserve.lua reads `cme` (the open period's end, ms), `cma` (what the period may draw),
`cmu` (what it drew), `cmh` (what calls held against it hold) and `cmt` (rates and policy,
billing.contracts.commitments.hot_terms) in the HMGET it already makes; settle.lua draws a call's
cost into `cmu` and gives back its hold in `cmh`. This module writes the rest, atomically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.wire.scripts import load_script

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

FIELDS = ("cme", "cma", "cmu", "cmh", "cmt", "cmc")


class HotCommitments:
    """Implements `stores.ports.commitments.CommitmentHotPort` on the hot store's Redis."""

    def __init__(self, store: HotCore) -> None:
        self._store = store
        self._script = load_script(store.redis, "commitment")

    async def _run(self, account_id: str, *args: str | int) -> int:
        """One step of commitment.lua; it returns once no lease granted before it (at the
        account's own rate) can admit a call (stores/redis/leases/process.py)."""
        key = self._store.keys.account(shard_of(account_id), account_id)
        with map_redis_errors():
            done = int(await self._script((key,), args))
        await self._store.leases.wait_out(key)
        return done

    async def open(
        self, account_id: str, end_ms: int, allowance: int, terms: str, drawn: int = 0
    ) -> None:
        await self._run(account_id, "open", end_ms, allowance, terms, drawn)

    async def allow(self, account_id: str, end_ms: int, allowance: int) -> bool:
        return await self._run(account_id, "allow", end_ms, allowance) == 1

    async def close(
        self, account_id: str, end_ms: int, next_period: tuple[int, int, str] | None
    ) -> int | None:
        nxt = ("", "", "") if next_period is None else next_period
        drawn = await self._run(account_id, "close", end_ms, *nxt)
        return None if drawn < 0 else drawn

    async def end(self, account_id: str) -> None:
        await self._run(account_id, "end")

    async def fields(self, account_id: str) -> dict[str, str]:
        key = self._store.keys.account(shard_of(account_id), account_id)
        with map_redis_errors():
            values = await self._store.redis.hmget(key, list(FIELDS))
        return {
            name: v.decode() if isinstance(v, bytes) else str(v)
            for name, v in zip(FIELDS, values, strict=True)
            if v is not None
        }
