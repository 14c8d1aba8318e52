"""kill -9 the `meterway settler` process mid-batch, repeatedly: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import random
import secrets

import pytest

from gateway.workers.settler import Settler
from tests.fault.procs import Proc, fault_stores, make_tenant, settle_directly
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

NOWHERE = "http://127.0.0.1:9"


@pytest.mark.timeout(480)
async def test_settler_killed_mid_batch_loses_and_doubles_nothing(dsn: str) -> None:
    env = gateway_env(dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    rng = random.Random(11)
    async with fault_stores(env) as (_, stores):
        tenants = [await make_tenant(stores, 10_000_000) for _ in range(6)]
        costs: dict[str, int] = {}
        settler = Proc(env, "settler")
        for _round in range(4):
            for t in tenants:
                costs |= await settle_directly(stores, t, 150)
            await settler.start()
            await asyncio.sleep(rng.uniform(0.6, 1.5))  # start-up, then mid-batch
            await settler.kill()
        # The operator's drain takes over what dead consumers left pending.
        await Settler(stores.settlement_stream(), stores.ledger, claim_idle_ms=0).drain()
        report = await check_invariants(stores, [t.account_id for t in tenants], costs)
        assert report.debits == len(costs)
        assert report.costed_without_debit == 0
