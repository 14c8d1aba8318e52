"""Voids reservations whose gateway died before settling, so no credit is held forever.

Any gateway process may sweep any shard: settle.lua is idempotent, so two sweepers racing
for one reservation void it once.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import SHARDS
from gateway.stores.redis.meter_holds import is_metered
from gateway.workers.tasks import pause, raise_if_cancelling, running

log = logging.getLogger("meterway.sweeper")
BATCH = 200


async def sweep_once(store: HotStore) -> int:
    """Void every reservation past its deadline (a metered one by its meter's expiry
    policy); returns how many were closed."""
    now = await store.now_ms()
    voided = 0
    for shard in range(SHARDS):
        expired = await store.redis.zrangebyscore(
            store.keys.deadlines(shard), "-inf", now, start=0, num=BATCH
        )
        for raw in expired:
            rid = raw.decode() if isinstance(raw, bytes) else str(raw)
            if is_metered(rid):  # charged or voided by its meter's policy
                if await store.meters.expire(rid):
                    voided += 1
                else:
                    await store.redis.zrem(store.keys.deadlines(shard), rid)
                continue
            account_id = await store.reservation_account(shard, rid)
            if account_id is not None and await store.void(shard, account_id, rid):
                voided += 1
            elif account_id is None:
                await store.redis.zrem(store.keys.deadlines(shard), rid)
    return voided


async def run_sweeper(
    store: HotStore, interval_s: float = 5.0, stop: asyncio.Event | None = None
) -> None:
    while running(stop):
        try:
            voided = await sweep_once(store)
            if voided:
                log.warning("voided %d abandoned reservations", voided)
        except HotStoreUnavailable as exc:
            raise_if_cancelling()
            log.warning("sweeper: %s", exc)
        except (OSError, RedisError) as exc:
            raise_if_cancelling()
            log.warning("sweeper: %s", exc)
        await pause(stop, interval_s)
