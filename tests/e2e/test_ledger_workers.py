"""The ledger's workers (settler, grant keeper) run where `SETTLER_DISABLED` puts them: a
gateway with it set runs neither, and a `meterway settler` process runs both, writing off an
expired grant, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.e2e.test_grants_api import HOUR_MS, credit, gateway_now
from tests.fault.procs import Proc
from tests.support.factories import hot_balance, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants


@pytest.fixture
async def forwarding_gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, SETTLER_DISABLED="1") as gateway:
        yield gateway


async def expire_entries(gw: Gateway, account_id: str) -> list[int]:
    rows = await gw.stores().pool.fetch(
        "SELECT amount_micros FROM ledger_entries WHERE account_id = $1 AND kind = 'expire'",
        account_id,
    )
    return [r["amount_micros"] for r in rows]


@pytest.mark.timeout(480)
async def test_a_settler_process_writes_off_what_a_forwarding_gateway_leaves(
    forwarding_gw: Gateway,
) -> None:
    gw = forwarding_gw
    async with gw.http.get(
        gw.url + "/readyz", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        tasks = (await r.json())["tasks"]
    assert "settler" not in tasks and "grant_keeper" not in tasks
    assert "sweeper" in tasks

    t = await tenant(gw, credit=1_000_000)
    expires = await gateway_now(gw) + timedelta(hours=1)
    await credit(
        gw, t.account_id, 300_000, "promo", kind="promotional", expires_at=expires.isoformat()
    )
    await gw.settle_all()  # the credits are in the ledger; nothing else settles here
    await gw.advance_clock(HOUR_MS + 1_000)
    await asyncio.sleep(1.5)  # two rounds a gateway's keeper would have taken
    assert await expire_entries(gw, t.account_id) == []

    s = gw.settings
    env = {"DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url, "REDIS_PREFIX": s.redis_prefix}
    settler = Proc({**env, "ADMIN_API_KEY": ADMIN_KEY, "MW_TEST_CLOCK": "1"}, "settler")
    await settler.start()
    try:
        for _ in range(150):
            if await expire_entries(gw, t.account_id):
                break
            await asyncio.sleep(0.1)
        assert await expire_entries(gw, t.account_id) == [-300_000]
        assert settler.proc is not None
        settler.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(settler.proc.wait(), 15) == 0
    finally:
        await settler.kill()
    assert await hot_balance(gw, t.account_id) == 1_000_000
    await check_invariants(gw.stores(), [t.account_id])
