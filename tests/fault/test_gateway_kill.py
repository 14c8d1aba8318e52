"""kill -9 `meterway serve` repeatedly under concurrent plain and streamed load; after a
restart, the sweeper and a drain, every invariant holds."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import aiohttp
import pytest

from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.stores.connect import Stores
from gateway.stores.redis.keys import shard_of
from gateway.workers.settler import Settler
from gateway.workers.sweeper import sweep_once
from tests.fault.procs import Proc, fault_stores, make_tenant, wait_healthy
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants


async def _call(http: aiohttp.ClientSession, url: str, key: str, stream: bool) -> tuple[str, int]:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        await r.read()
        if r.status != 200 or stream:
            return "", 0
        return r.headers["x-request-id"], int(r.headers["x-meterway-cost-micros"])


async def _load(url: str, key: str, n: int, costs: dict[str, int]) -> None:
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(_call(http, url, key, i % 2 == 0) for i in range(n)), return_exceptions=True
        )
    for res in results:
        if isinstance(res, tuple) and res[0]:
            costs[res[0]] = res[1]


async def _some_in_flight(stores: Stores, account_id: str) -> None:
    """Kill mid-load, not before the first reservation: on a busy machine a fixed sleep may
    end before any request was admitted, and the round would test nothing."""
    reservations = stores.store.keys.reservations(shard_of(account_id))
    for _ in range(200):
        if await stores.redis.hlen(reservations) >= 5:
            return
        await asyncio.sleep(0.01)


@pytest.mark.timeout(120)
async def test_gateway_killed_under_load_loses_no_money(dsn: str) -> None:
    control = UpstreamControl(delay_s=0.05, chunk_delay_s=0.05, chunks=4)
    upstream = await start_upstream(control=control)
    env = gateway_env(dsn, upstream.url, f"mwt{secrets.token_hex(4)}")
    url = f"http://{env['LISTEN_ADDR']}"
    costs: dict[str, int] = {}
    try:
        async with fault_stores(env) as (settings, stores):
            t = await make_tenant(stores, 50_000_000)
            gateway = Proc(env, "serve")
            for _round in range(4):
                await gateway.start()
                await wait_healthy(url)
                load = asyncio.create_task(_load(url, t.key, 40, costs))
                await _some_in_flight(stores, t.account_id)
                await gateway.kill()
                with contextlib.suppress(Exception):
                    await load
            await gateway.start()
            await wait_healthy(url)
            await _load(url, t.key, 20, costs)
            await gateway.kill(15)  # SIGTERM: a clean stop drains in-flight settlements
            ttl_ms = int(settings.reservation_ttl_s * 1000) + 1000
            await stores.redis.incrby(stores.store.keys.clock(0), ttl_ms)
            voided = await sweep_once(stores.store)
            await Settler(stores.settlement_stream(), stores.ledger, claim_idle_ms=0).drain()
            report = await check_invariants(stores, [t.account_id], costs)
            assert voided > 0 and report.voids == voided
            assert report.costed_without_debit == 0
            assert report.debits >= len(costs)
    finally:
        await upstream.close()
