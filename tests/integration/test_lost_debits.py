"""A reservation Redis lost is still debited what its answer showed (issue 57): the settle
that finds it gone leaves the tombstone a void would have, and the next settle debits the
delivered usage from what is free, once. A retry after a failed try tells a reservation its
own earlier try closed (its debit is queued) from a lost one: the real scripts, the real
settler, the real ledger; only the first try's failure is made up."""

from __future__ import annotations

import asyncio
from typing import Any

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.services.money.lost_debits import LostDebits
from gateway.services.money.settlement import Hold, Settlements
from gateway.services.registry import TaskRegistry
from gateway.stores.connect import Stores
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.records import Settlement
from gateway.workers.settler import Settler
from tests.integration.conftest import Holder, make_holder

DEBIT = Settlement("demo-gpt", "openai", Usage(input_tokens=40, output_tokens=7), 900)


class FirstTryFails:
    """The real store, whose first settle fails: before reaching Redis, or after Redis
    carried it out (its reply lost)."""

    def __init__(self, stores: Stores, *, carried_out: bool) -> None:
        self.store, self.carried_out, self.failed = stores.store, carried_out, False

    async def settle(self, shard: int, account_id: str, rid: str, s: Settlement) -> int:
        if not self.failed:
            self.failed = True
            if self.carried_out:
                await self.store.settle(shard, account_id, rid, s)
            raise HotStoreUnavailable("the first try's reply was lost")
        return await self.store.settle(shard, account_id, rid, s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def _admitted(stores: Stores, h: Holder, rid: str) -> Admitted:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=50, max_output_tokens=20, spend_micros=2_000
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def _settle(stores: Stores, store: Any, admitted: Admitted) -> bool | None:
    settlements = Settlements(
        store, TaskRegistry(), refresh_s=30, rebook=LostDebits(stores.store, stores.pending)
    )
    hold = Hold(admitted, task=asyncio.current_task())
    done = await settlements.settle(hold, DEBIT)
    await settlements.drain(5)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    return done


async def _debits(stores: Stores, rid: str) -> list[int]:
    rows = await stores.pool.fetch(
        "SELECT amount_micros FROM ledger_entries WHERE request_id = $1 AND kind = 'debit'", rid
    )
    return [-int(r[0]) for r in rows]


async def test_a_lost_reservation_is_debited_late_once(stores: Stores) -> None:
    h = await make_holder(stores, credit=100_000)
    rid = f"{h.account_id}:lost"
    admitted = await _admitted(stores, h, rid)
    await stores.redis.hdel(stores.store.keys.reservations(h.shard), rid)  # Redis lost it
    # Not None: the answer shows the cost (the settle's reply is awaited in its task)
    assert await _settle(stores, stores.store, admitted) is not None
    assert await _debits(stores, rid) == [900]


async def test_a_retry_debits_a_reservation_lost_before_its_failed_first_try(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=100_000)
    rid = f"{h.account_id}:lost-then-failed"
    admitted = await _admitted(stores, h, rid)
    await stores.redis.hdel(stores.store.keys.reservations(h.shard), rid)
    await _settle(stores, FirstTryFails(stores, carried_out=False), admitted)
    assert await _debits(stores, rid) == [900]


async def test_a_retry_after_a_first_try_redis_carried_out_debits_nothing_more(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=100_000)
    rid = f"{h.account_id}:carried-out"
    admitted = await _admitted(stores, h, rid)
    await _settle(stores, FirstTryFails(stores, carried_out=True), admitted)
    assert await _debits(stores, rid) == [900]
    assert await stores.store.balance(h.account_id) == (99_100, 0)
