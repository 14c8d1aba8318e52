"""`meterway reconcile --repair` while requests settle (in another process), credits land
and a real `meterway settler` writes the ledger: repairs never create drift, and drift that
was really injected is repaired exactly (the ledger is the truth, to the micro).
Each test has a database of its own (`own_dsn`): reconcile reads every account of it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.ops.reconcile import Drift, reconcile
from gateway.services.money.credits import post_credit
from gateway.stores.connect import Stores
from gateway.workers.settler import Settler
from tests.fault.procs import Proc, Tenant, fault_stores, make_tenant, run_command
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

NOWHERE = "http://127.0.0.1:9"
LOAD_S = 6.0
STEADY_GAP_S = 0.02  # a steady tenant settles every ~20 ms; a busy one back to back


@asynccontextmanager
async def settling(
    env: dict[str, str], busy: list[Tenant], steady: list[Tenant], costs: dict[str, int]
) -> AsyncIterator[None]:
    """Reserve + settle continuously in a separate process; `costs` gets what it settled."""
    specs = [f"{t.account_id}:{t.record.key_id}:0" for t in busy for _ in range(2)]
    specs += [f"{t.account_id}:{t.record.key_id}:{STEADY_GAP_S}" for t in steady]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fault.settle_load", *specs,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"started"
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await proc.communicate()
        costs.update(json.loads(out))


async def _crediting(stores: Stores, tenants: list[Tenant], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for t in tenants:
            idem = secrets.token_hex(8)
            await post_credit(stores.ledger, stores.store, t.account_id, 1_000, idem, "load")
        await asyncio.sleep(0.05)


async def _finish(
    stores: Stores, settler: Proc, tenants: list[Tenant], costs: dict[str, int]
) -> None:
    """After the load: everything drained, Redis equals the ledger exactly, nothing lost."""
    await settler.kill()
    await Settler(stores.settlement_stream(), stores.ledger, claim_idle_ms=0).drain()
    report = await check_invariants(stores, [t.account_id for t in tenants], costs)
    assert report.debits == len(costs) and report.costed_without_debit == 0
    assert await reconcile(stores, rechecks=0) == []


@pytest.mark.timeout(360)
async def test_repair_under_load_creates_no_drift(own_dsn: str) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (_, stores):
        tenants = [await make_tenant(stores, 50_000_000) for _ in range(6)]
        busy, steady = tenants[:2], tenants[2:]
        settler = Proc(env, "settler")
        await settler.start()
        seen: list[Drift] = []
        costs: dict[str, int] = {}
        stop = asyncio.Event()
        async with settling(env, busy, steady, costs):
            credits = asyncio.create_task(_crediting(stores, steady, stop))
            loop = asyncio.get_running_loop()
            end, runs = loop.time() + LOAD_S, 0
            while loop.time() < end or runs < 3:
                seen.extend(await reconcile(stores, repair=True, rechecks=0))
                runs += 1
            cli = (await run_command(env, "reconcile", "--repair"))[1]
            stop.set()
            await credits
        assert len(costs) > 200, "the load never ran"
        assert [d for d in seen if d.repaired] == []
        assert "(repaired)" not in cli, cli
        await _finish(stores, settler, tenants, costs)


@pytest.mark.timeout(360)
async def test_drift_injected_under_load_is_repaired_exactly(own_dsn: str) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (_, stores):
        tenants = [await make_tenant(stores, 50_000_000) for _ in range(6)]
        corrupt, lost = tenants[4], tenants[5]
        settler = Proc(env, "settler")
        await settler.start()
        found: dict[str, Drift] = {}
        costs: dict[str, int] = {}
        async with settling(env, tenants[:2], tenants[2:], costs):
            await asyncio.sleep(1.0)
            await stores.store.redis.hincrby(  # a write Redis should never have taken
                stores.store.keys.account(corrupt.record.shard, corrupt.account_id), "bal", 12_345
            )
            await stores.ledger.credit(lost.account_id, 300, "lost", "writer died before Redis")
            for _ in range(50):
                for d in await reconcile(stores, repair=True, rechecks=0, credit_grace_s=0):
                    if d.repaired:
                        assert d.account_id not in found, f"repaired twice: {d}"
                        found[d.account_id] = d
                if set(found) == {corrupt.account_id, lost.account_id}:
                    break
            await asyncio.sleep(1.0)  # settling on after the repair
        assert set(found) == {corrupt.account_id, lost.account_id}, found
        bad = found[corrupt.account_id]
        assert bad.redis_micros is not None
        assert (bad.redis_micros - bad.expected_redis, bad.unapplied_credits) == (12_345, 0)
        healed = found[lost.account_id]
        assert (healed.redis_micros, healed.unapplied_credits) == (healed.expected_redis - 300, 1)
        await _finish(stores, settler, tenants, costs)
