"""Money an operator takes out, held before it leaves (take.lua) and turned into its ledger
entry (credit.lua) or given back (give_back.lua): the decision against what the account has
free and the hold are one atomic step, so racing reservations can never spend the same money.

A hold is a reservation record (records.py) in the account's shard under an id made from
what it is for (`out_<shard>_<hash>`), so `held`, held.lua and the sweeper see it; its
purpose rides in the record's trailing metadata, for the resolver that settles a hold its
writer left (services/money/out.py).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from gateway.stores.errors import BalanceTooLow, LineTooLow
from gateway.stores.money_out_ids import hold_id as hold_id
from gateway.stores.records import MONEY_OUT_ID, MoneyOutHold
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.records import decode_reservation
from gateway.stores.redis.wire.scripts import load_script

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

HOLD_TTL_MS = 60_000  # the resolver looks at a hold its writer has not closed after this
HOLD_ID = MONEY_OUT_ID


def _purpose(hold: MoneyOutHold) -> str:
    text = json.dumps([hold.kind, hold.key, hold.payment_id])
    return base64.b64encode(text.encode()).decode()


class MoneyOutHolds:
    """Implements `stores.ports.MoneyOutPort` on the hot store's Redis."""

    def __init__(self, store: HotCore) -> None:
        self._store = store
        self._take = load_script(store.redis, "take")
        self._give_back = load_script(store.redis, "give_back")
        self._line = load_script(store.redis, "credit_line")

    def _keys(self, account_id: str) -> tuple[str, str, str]:
        s, keys = shard_of(account_id), self._store.keys
        return keys.account(s, account_id), keys.reservations(s), keys.deadlines(s)

    def _clock(self, account_id: str) -> str:
        return self._store.keys.clock(shard_of(account_id))

    async def take(self, hold: MoneyOutHold) -> int:
        """Hold `hold.amount_micros` if the account has that much free; what is free after.
        Raises BalanceTooLow (naming what is free) and holds nothing otherwise."""
        keys = (*self._keys(hold.account_id), self._clock(hold.account_id))
        args = (hold.hold_id, hold.account_id, hold.amount_micros, HOLD_TTL_MS)
        with map_redis_errors():
            reply = await self._take(keys, (*args, self._store.clock_flag, _purpose(hold)))
        if int(reply[0]) != 1:
            raise BalanceTooLow(int(reply[1]) if len(reply) > 1 else 0)
        return int(reply[1])

    async def give_back(self, account_id: str, hold_id: str) -> int:
        """Drop a hold whose money did not leave; the micros it held (0: none)."""
        with map_redis_errors():
            return int(await self._give_back(self._keys(account_id), (hold_id,)))

    async def held(self, shard: int, hold_id: str) -> MoneyOutHold | None:
        """The open hold under `hold_id`, or None."""
        with map_redis_errors():
            raw = await self._store.redis.hget(self._store.keys.reservations(shard), hold_id)
        if raw is None:
            return None
        record = decode_reservation(raw)
        kind, key, payment = json.loads(base64.b64decode(record.metadata))
        return MoneyOutHold(hold_id, record.account_id, record.held_micros, kind, key, payment)

    async def postpone(self, shard: int, hold_id: str) -> None:
        """Look at a hold again after another HOLD_TTL_MS (its outcome is not known yet)."""
        now = await self._store.now_ms()
        with map_redis_errors():
            await self._store.redis.zadd(
                self._store.keys.deadlines(shard), {hold_id: now + HOLD_TTL_MS}
            )

    async def set_line(self, account_id: str, micros: int) -> int:
        """Set the credit line if the account's position allows it; the line before (0:
        none). Raises LineTooLow (the lowest line allowed now) and changes nothing else."""
        keys = (self._keys(account_id)[0], self._clock(account_id))
        with map_redis_errors():
            reply = await self._line(keys, (micros, self._store.clock_flag))
        if int(reply[0]) == 0:
            raise LineTooLow(int(reply[1]))
        return int(reply[1] or 0) if int(reply[0]) == 1 else 0
