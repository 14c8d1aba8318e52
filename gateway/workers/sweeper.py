"""Voids reservations whose gateway died before settling, so no credit is held forever,
and debits what a stopping gateway recorded as completed but unsettled (never a void).

Any gateway process may sweep any shard: settle.lua is idempotent, so two sweepers racing
for one reservation void it once, and a recorded debit applied twice debits once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.services.money.lost_debits import LostDebits
from gateway.stores.meter_records import is_metered
from gateway.stores.ports import PendingDebitsPort, SweptStorePort
from gateway.stores.ports.hot import CLOSED
from gateway.stores.records import is_lease, is_money_out

log = logging.getLogger("meterway.sweeper")
BATCH = 200
# Closes a money-out hold at its deadline (services/money/out.py's `resolve`, which reads
# the ledger); without one (a sweep with no ledger) such a hold waits for one that has it.
Resolver = Callable[[int, str], Awaitable[bool]]


async def _close_expired(
    store: SweptStorePort, shard: int, rid: str, resolve: Resolver | None = None
) -> bool:
    if is_lease(rid):  # its process died: what it appended is debited, the rest given back
        if await store.leases.close_expired(shard, rid):
            return True
        await store.forget_deadline(shard, rid)
        return False
    if is_money_out(rid):  # never voided: only the ledger knows whether its money left
        return await resolve(shard, rid) if resolve is not None else False
    if is_metered(rid):  # charged or voided by its meter's policy
        if await store.meters.expire(rid):
            return True
        await store.forget_deadline(shard, rid)
        return False
    account_id = await store.reservation_account(shard, rid)
    if account_id is None:
        await store.forget_deadline(shard, rid)
        return False
    return await store.void(shard, account_id, rid)


async def sweep_once(store: SweptStorePort, resolve: Resolver | None = None) -> int:
    """Void every reservation past its deadline (a metered one by its meter's expiry
    policy, a money-out hold by `resolve`); returns how many were closed."""
    now = await store.now_ms()
    voided = 0
    for shard, rids in (await store.expired_reservations(now, BATCH)).items():
        for rid in rids:
            voided += await _close_expired(store, shard, rid, resolve)
    return voided


async def apply_pending(store: SweptStorePort, pending: PendingDebitsPort) -> int:
    """Debit every recorded unsettled call; returns how many were applied. One whose hold is
    gone without its debit (the lease it was admitted under was closed while it was in
    flight, or Redis lost its reservation) is debited late from what is free, as a settle
    that finds its reservation lost is (services/money/settlement.py): never dropped."""
    applied = 0
    rebook = LostDebits(store, pending)
    for p in await pending.oldest():
        done = await store.settle(p.shard, p.account_id, p.request_id, p.settlement)
        if done == CLOSED and not await rebook.recorded(p):
            await rebook.entomb(p, "")  # which key made the call went with the hold
            await store.settle(p.shard, p.account_id, p.request_id, p.settlement)
        await pending.done(p.request_id)
        applied += 1
    return applied


async def sweep_and_apply(
    store: SweptStorePort, pending: PendingDebitsPort | None, resolve: Resolver | None = None
) -> None:
    """One round: recorded debits first (so an expired one is debited, not voided)."""
    if pending is not None:
        applied = await apply_pending(store, pending)
        if applied:
            log.warning("applied %d debits recorded by a stopping gateway", applied)
    voided = await sweep_once(store, resolve)
    if voided:
        log.warning("voided %d abandoned reservations", voided)
