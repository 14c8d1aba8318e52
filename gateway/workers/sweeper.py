"""Voids reservations whose gateway died before settling, so no credit is held forever,
and debits what a stopping gateway recorded as completed but unsettled (never a void).

Any gateway process may sweep any shard: settle.lua is idempotent, so two sweepers racing
for one reservation void it once, and a recorded debit applied twice debits once.
"""

from __future__ import annotations

import logging

from gateway.stores.postgres.pending import PendingDebits
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.meter_holds import is_metered

log = logging.getLogger("meterway.sweeper")
BATCH = 200


async def _close_expired(store: HotStore, shard: int, rid: str) -> bool:
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


async def sweep_once(store: HotStore) -> int:
    """Void every reservation past its deadline (a metered one by its meter's expiry
    policy); returns how many were closed."""
    now = await store.now_ms()
    voided = 0
    for shard, rids in (await store.expired_reservations(now, BATCH)).items():
        for rid in rids:
            voided += await _close_expired(store, shard, rid)
    return voided


async def apply_pending(store: HotStore, pending: PendingDebits) -> int:
    """Debit every recorded unsettled call; returns how many were applied."""
    applied = 0
    for p in await pending.oldest():
        await store.settle(p.shard, p.account_id, p.request_id, p.settlement())
        await pending.done(p.request_id)
        applied += 1
    return applied


async def sweep_and_apply(store: HotStore, pending: PendingDebits | None) -> None:
    """One round: recorded debits first (so an expired one is debited, not voided)."""
    if pending is not None:
        applied = await apply_pending(store, pending)
        if applied:
            log.warning("applied %d debits recorded by a stopping gateway", applied)
    voided = await sweep_once(store)
    if voided:
        log.warning("voided %d abandoned reservations", voided)
