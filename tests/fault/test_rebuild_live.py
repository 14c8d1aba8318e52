"""`meterway rebuild` on a Redis that gateways serve from: refused unless forced; forced, it
keeps open holds (available never above what the ledger will say) and corrects balances by
fenced deltas. Run as the real command, beside the stores a gateway would use."""

from __future__ import annotations

import secrets

import pytest

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.money.plans import load_plans
from gateway.ops.rebuild import RebuildRefused, rebuild
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.workers.settler import Settler
from tests.fault.procs import Tenant, fault_stores, make_tenant, run_command
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

NOWHERE = "http://127.0.0.1:9"


def _rid(name: str, t: Tenant) -> str:
    """Request ids are unique in the shared test ledger: one per tenant."""
    return f"{name}-{t.account_id}"


async def _hold(stores: Stores, t: Tenant, name: str, micros: int) -> None:
    decision = await stores.store.reserve(
        _rid(name, t), t.record, input_tokens=10, max_output_tokens=10, spend_micros=micros
    )
    assert isinstance(decision, Admitted), decision


async def _settle(stores: Stores, t: Tenant, name: str, cost: int) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    done = await stores.store.settle(
        t.record.shard, t.account_id, _rid(name, t), Settlement("demo-gpt", "openai", usage, cost)
    )
    assert done == 1


async def _ledger(stores: Stores, account_id: str) -> int:
    total = await stores.pool.fetchval(
        "SELECT coalesce(sum(amount_micros), 0) FROM ledger_entries WHERE account_id = $1",
        account_id,
    )
    return int(total)


@pytest.mark.timeout(480)
async def test_rebuild_is_refused_on_a_live_redis(own_dsn: str) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (settings, stores):  # rebuilt: ready markers set
        t = await make_tenant(stores, 1_000_000)
        code, out = await run_command(env, "rebuild")
        assert code == 1 and "rebuild refused" in out and "1 open" not in out, out
        plans = load_plans(settings.plans_path)
        with pytest.raises(RebuildRefused):
            await rebuild(stores, plans)
        # No ready marker, but a reservation open: still live.
        await _hold(stores, t, "open-1", 1_000)
        for shard in range(64):
            await stores.redis.delete(stores.store.keys.ready(shard))
        with pytest.raises(RebuildRefused, match="1 open reservation"):
            await rebuild(stores, plans)
        assert await stores.store.balance(t.account_id) == (1_000_000, 1_000)


@pytest.mark.timeout(480)
async def test_forced_rebuild_keeps_open_holds(own_dsn: str) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (_, stores):
        t = await make_tenant(stores, 1_000_000)
        await _hold(stores, t, "in-flight", 400_000)
        await _hold(stores, t, "queued", 600)
        await _settle(stores, t, "queued", 500)  # debited in Redis, still in the stream
        assert await stores.store.balance(t.account_id) == (999_500, 400_000)

        code, out = await run_command(env, "rebuild", "--force")
        assert code == 0, out
        assert await stores.store.balance(t.account_id) == (999_500, 400_000)

        await _settle(stores, t, "in-flight", 1_000)
        hot = await stores.store.balance(t.account_id)
        assert hot == (998_500, 0)
        await Settler(stores.settlement_stream(), stores.ledger).drain()
        assert hot[0] - hot[1] == await _ledger(stores, t.account_id) == 998_500
        await check_invariants(stores, [t.account_id])


@pytest.mark.timeout(480)
async def test_forced_rebuild_repairs_a_wrong_balance_and_restores_a_lost_account(
    own_dsn: str,
) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (_, stores):
        wrong, lost = await make_tenant(stores, 700_000), await make_tenant(stores, 300_000)
        keys = stores.store.keys
        await stores.redis.hset(keys.account(wrong.record.shard, wrong.account_id), "bal", 5)
        await stores.redis.delete(
            keys.account(lost.record.shard, lost.account_id),
            keys.credits(lost.record.shard, lost.account_id),
        )
        code, out = await run_command(env, "rebuild", "--force")
        assert code == 0, out
        assert await stores.store.balance(wrong.account_id) == (700_000, 0)
        assert await stores.store.balance(lost.account_id) == (300_000, 0)
        await check_invariants(stores, [wrong.account_id, lost.account_id])


@pytest.mark.timeout(480)
async def test_offline_rebuild_pages_a_long_backlog(own_dsn: str) -> None:
    env = gateway_env(own_dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (settings, stores):
        t = await make_tenant(stores, 10_000_000)
        for n in range(2_500):  # more than two pages of one shard's stream
            await _hold(stores, t, f"r{n}", 10)
            await _settle(stores, t, f"r{n}", 3)
        await drop_prefix_but_streams(stores)
        await rebuild(stores, load_plans(settings.plans_path))
        assert await stores.store.balance(t.account_id) == (10_000_000 - 7_500, 0)
        await Settler(stores.settlement_stream(), stores.ledger).drain()
        await check_invariants(stores, [t.account_id])


async def drop_prefix_but_streams(stores: Stores) -> None:
    """Redis lost everything but the settlement streams (an AOF cut between writes)."""
    keep = {stores.store.keys.stream(s).encode() for s in range(64)}
    prefix = stores.store.keys.prefix
    doomed = [k async for k in stores.redis.scan_iter(match=f"{prefix}:*") if k not in keep]
    if doomed:
        await stores.redis.delete(*doomed)
