"""A settler stalled between reading a batch and committing it while Redis is emptied: the
restore from the ledger waits for that batch, so the restored balances include its debits
(without the fence they were in the ledger and missing from Redis, money given away)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

from billing.money.plans import load_plans
from gateway.config.settings import restore_lock_name
from gateway.ops.self_restore import ensure_restored
from gateway.stores.postgres.ledger import Ledger
from gateway.workers.settler import Settler
from tests.fault.procs import fault_stores, make_tenant, settle_directly
from tests.support.harness import REDIS_URL, drop_prefix, gateway_env

NOWHERE = "http://127.0.0.1:9"
CREDIT = 1_000_000


class StalledLedger:
    """The real ledger, whose first batch waits for `resume` (a settler stalled mid-batch)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.stalled = asyncio.Event()
        self.resume = asyncio.Event()

    async def write_settlements(self, rows: Sequence[tuple[object, ...]]) -> int:
        self.stalled.set()
        await self.resume.wait()
        return await self.ledger.write_settlements(rows)


async def test_a_restore_waits_for_the_batch_a_settler_read_before_redis_was_emptied(
    dsn: str,
) -> None:
    env = gateway_env(dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (settings, stores):
        tenant = await make_tenant(stores, CREDIT)
        costs = await settle_directly(stores, tenant, 3)
        ledger = StalledLedger(stores.ledger)
        fence = stores.operator().restore_fence(restore_lock_name(settings))
        settler = Settler(stores.settlement_stream(), ledger, fence=fence)
        stop = asyncio.Event()
        running = asyncio.create_task(settler.run(stop=stop))
        try:
            await asyncio.wait_for(ledger.stalled.wait(), 10)
            await drop_prefix(REDIS_URL, settings.redis_prefix)
            plans = load_plans(settings.plans_path)
            restore = asyncio.create_task(ensure_restored(stores, plans, settings, "watcher"))
            await asyncio.sleep(1.0)  # twice the fence's hold: only the stalled batch holds it
            assert not restore.done(), "the restore read the ledger before the batch landed"

            ledger.resume.set()
            assert await asyncio.wait_for(restore, 30) is True
            total = await stores.pool.fetchval(
                "SELECT sum(amount_micros) FROM ledger_entries WHERE account_id = $1",
                tenant.account_id,
            )
            assert total == CREDIT - sum(costs.values())
            assert await stores.store.balance(tenant.account_id) == (total, 0)
        finally:
            ledger.resume.set()
            stop.set()
            await asyncio.wait_for(running, 10)
