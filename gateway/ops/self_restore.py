"""`serve` restores an empty Redis from the ledger by itself, once, and serves.

At start, and every second afterwards (the `restorer` background task), a gateway checks
the per-shard ready markers. Missing markers mean Redis lost its state (a fresh deployment,
a FLUSHALL, a restart without its data): billable traffic already gets 503, so the gateway
takes the restore lock (a PostgreSQL advisory lock: every gateway reaches the ledger), checks
again (another gateway may have restored while it waited), rebuilds Redis from the ledger,
records the restore in `redis_restores` and sets the markers. Gateways starting together
restore once; the others wait on the lock and then serve.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from billing.money.plans import PlanBook
from gateway.config.settings import Settings, restore_lock_name
from gateway.ops.rebuild import rebuild
from gateway.stores.connect import Stores

log = logging.getLogger("meterway.restore")
CHECK_EVERY_S = 1.0


async def ensure_restored(
    stores: Stores, plans: PlanBook, settings: Settings, trigger: str
) -> bool:
    """Restore Redis from the ledger if it is not marked ready; True when this call did."""
    if await stores.store.consistent():
        return False
    async with stores.operator().restore_lock(restore_lock_name(settings)):
        if await stores.store.consistent():
            return False  # restored by another gateway while this one waited
        log.warning("Redis has no ready markers: restoring it from the ledger (%s)", trigger)
        live = (await stores.hot_restore().liveness()).live  # partly marked, or holds open
        counts = await _recorded_rebuild(stores, plans, settings, trigger, force=live)
    log.warning("Redis restored from the ledger: %s", counts)
    return True


async def rebuild_command(
    stores: Stores, plans: PlanBook, settings: Settings, force: bool
) -> dict[str, int]:
    """`meterway rebuild`: under the same lock as the gateways' own restores, recorded."""
    async with stores.operator().restore_lock(restore_lock_name(settings)):
        return await _recorded_rebuild(stores, plans, settings, "command", force=force)


async def _recorded_rebuild(
    stores: Stores, plans: PlanBook, settings: Settings, trigger: str, *, force: bool
) -> dict[str, int]:
    """Rebuild, record the restore, then set the markers that let calls in: a gateway ready
    after a restore has its record (the markers first, a reader of redis_restores could
    find none). Under the restore lock."""
    started = datetime.now(UTC)
    counts = await rebuild(stores, plans, force=force, mark=False)
    await stores.operator().record_restore(settings.redis_prefix, trigger, counts, started)
    await stores.store.mark_ready()
    return counts
