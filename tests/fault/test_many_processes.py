"""Many processes, standing in for many hosts, sharing one Redis and one PostgreSQL.

Four `meterway serve` processes on four ports (one of them with WORKERS=2) take the 200-way
race for credit: exactly the affordable number is admitted, the balance never goes below
zero, and the ledger equals the balances. Settler processes split the streams through their
consumer group, and when one is killed with its batch unwritten, the others claim its pending
messages: every settlement lands exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import aiohttp
import pytest
from redis.exceptions import ResponseError

from billing.metering.tokens import TokenCounter
from billing.pricing import load_pricing
from gateway.config.settings import PROVIDERS, Settings
from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.llm.endpoints import CHAT
from gateway.llm.reading.calls import read_call
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import SHARDS
from gateway.stores.redis.settlement_stream import GROUP
from tests.fault.procs import Proc, Tenant, fault_stores, make_tenant, settle_directly, wait_healthy
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

MESSAGES = [{"role": "user", "content": "race me across hosts"}]
BODY = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 1000}
COUNTER = TokenCounter()


def worst_case(settings: Settings) -> tuple[int, int]:
    """(input tokens the gateways count, micros each request reserves) for BODY."""
    pricing = load_pricing(settings.pricing_path, frozenset(PROVIDERS))
    call = read_call(CHAT, BODY, KeyRecord("k", "a", 0, "k", (), ()), pricing, COUNTER)
    return call.input_tokens, call.worst_case_micros


async def _backlog_settled(stores: Stores, timeout_s: float = 60.0) -> None:
    """The settlers in the gateway processes wrote everything: no stream entry is left."""
    deadline = time.monotonic() + timeout_s
    while (await stores.store.backlog()).length:
        assert time.monotonic() < deadline, "the settlers did not drain the streams"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(480)
async def test_200_way_race_across_4_gateway_processes(dsn: str) -> None:
    control = UpstreamControl(delay_s=0.3, counter=lambda t: COUNTER.count_text("o200k_base", t))
    upstream = await start_upstream(control=control)
    prefix = f"mwt{secrets.token_hex(4)}"
    envs = [gateway_env(dsn, upstream.url, prefix) for _ in range(4)]
    envs[3]["WORKERS"] = "2"
    try:
        async with fault_stores(envs[0]) as (settings, stores):
            tokens, worst = worst_case(settings)
            control.usage = {
                "prompt_tokens": tokens,
                "completion_tokens": 1000,
                "total_tokens": tokens + 1000,
            }
            t = await make_tenant(stores, 20 * worst)
            gateways = [Proc(env, "serve") for env in envs]
            await asyncio.gather(*(g.start() for g in gateways))
            urls = [f"http://{env['LISTEN_ADDR']}" for env in envs]
            await asyncio.gather(*(wait_healthy(u) for u in urls))
            lowest = await _race(stores, t, urls)
            assert lowest >= 0, f"the balance went to {lowest}"
            assert control.hits == 20
            await _backlog_settled(stores)
            for g in gateways:
                await g.kill()
            report = await check_invariants(stores, [t.account_id])
            assert report.debits == 20
            assert await stores.store.balance(t.account_id) == (0, 0)
    finally:
        await upstream.close()


async def _race(stores: Stores, t: Tenant, urls: list[str]) -> int:
    """200 requests at once, spread over the processes; returns the lowest of the balance
    and of the balance less what is held, seen in Redis while they run."""
    lowest = 1 << 62
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal lowest
        while not done.is_set():
            found = await stores.store.balance(t.account_id)
            assert found is not None
            lowest = min(lowest, found[0], found[0] - found[1])
            await asyncio.sleep(0.005)

    async def one(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {t.key}"}
        async with http.post(url + "/v1/chat/completions", json=BODY, headers=headers) as r:
            return r.status, await r.json()

    watcher = asyncio.create_task(watch())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        results = await asyncio.gather(*(one(http, urls[i % 4]) for i in range(200)))
    done.set()
    await watcher
    statuses = [s for s, _ in results]
    assert (statuses.count(200), statuses.count(402)) == (20, 180), statuses
    assert {b["error"]["code"] for s, b in results if s == 402} == {"billing_required"}
    return lowest


async def _pending_by_consumer(stores: Stores) -> dict[str, int]:
    keys = stores.store.keys
    async with stores.redis.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.xpending(keys.stream(shard), GROUP)
        replies = await pipe.execute()
    out: dict[str, int] = {}
    for reply in replies:
        for consumer in reply.get("consumers") or []:
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            out[name] = out.get(name, 0) + int(consumer["pending"])
    return out


async def _wait_for(check: Any, what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.02)
    raise TimeoutError(what)


@pytest.mark.timeout(480)
async def test_settlers_split_the_streams_and_take_over_a_dead_ones_pending(dsn: str) -> None:
    env = gateway_env(dsn, "http://127.0.0.1:9", f"mwt{secrets.token_hex(4)}")
    proxy = CuttableProxy("127.0.0.1", 5432)
    await proxy.start()
    proxied = {**env, "DATABASE_URL": dsn.replace(":5432/", f":{proxy.port}/")}
    try:
        await _settlers_split_and_take_over(env, proxied, proxy)
    finally:
        await proxy.close()


async def _settlers_split_and_take_over(
    env: dict[str, str], proxied: dict[str, str], proxy: CuttableProxy
) -> None:
    async with fault_stores(env) as (_, stores):
        tenants = [await make_tenant(stores, 100_000_000) for _ in range(6)]
        costs: dict[str, int] = {}
        # The victim reads a batch, then cannot write it: its PostgreSQL is cut off.
        victim = Proc(proxied, "settler")
        await victim.start()
        await _wait_for(lambda: _consumers(stores), "the victim settler never read")
        proxy.cut()
        for t in tenants:
            costs |= await settle_directly(stores, t, 100)
        held = await _wait_for(lambda: _pending_by_consumer(stores), "the victim took nothing")
        await victim.kill()  # SIGKILL, its batch read and unwritten
        (dead,) = held
        # Three settlers (hosts) take the rest, and the dead one's pending after it idles.
        survivors = [Proc(env, "settler") for _ in range(3)]
        await asyncio.gather(*(s.start() for s in survivors))
        await _wait_for(
            lambda: _at_least(_consumers(stores), 4), "the survivors never joined the group"
        )
        holders: set[str] = set()
        producing = asyncio.create_task(_produce(stores, tenants, costs))
        while not producing.done() or (await stores.store.backlog()).length:
            holders |= {c for c, n in (await _pending_by_consumer(stores)).items() if n}
            await asyncio.sleep(0.003)
        await producing
        await _wait_for(lambda: _drained(stores), "the dead settler's pending was never claimed")
        for s in survivors:
            await s.kill()
        assert len(holders - {dead}) >= 2, f"one settler took every batch: {holders}"
        report = await check_invariants(stores, [t.account_id for t in tenants], costs)
        assert report.debits == len(costs) == 600 + 6 * 400
        assert report.costed_without_debit == 0


async def _produce(stores: Stores, tenants: list[Tenant], costs: dict[str, int]) -> None:
    """Settlements from six accounts at once, while the settlers run."""
    for _ in range(4):
        found = await asyncio.gather(*(settle_directly(stores, t, 100) for t in tenants))
        for batch in found:
            costs |= batch


async def _consumers(stores: Stores) -> set[str]:
    """The consumer group's members; each joins on its first read."""
    try:
        groups = await stores.redis.xinfo_consumers(stores.store.keys.stream(0), GROUP)
    except ResponseError:  # no stream or group yet: no settler has started
        return set()
    return {g["name"].decode() if isinstance(g["name"], bytes) else g["name"] for g in groups}


async def _at_least(found: Any, n: int) -> bool:
    return len(await found) >= n


async def _drained(stores: Stores) -> bool:
    return (await stores.store.backlog()).length == 0 and not any(
        (await _pending_by_consumer(stores)).values()
    )
