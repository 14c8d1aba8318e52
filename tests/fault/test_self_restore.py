"""`meterway serve` restores an empty Redis from the ledger by itself: four gateways
started at once restore it exactly once and all serve; a Redis emptied while they serve
answers 503 with a clear error until their watchers restore it, again once, with no manual
step. Balances equal the ledger to the micro afterwards."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time

import aiohttp
import asyncpg
import pytest

from gateway.config.settings import restore_lock_name
from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.stores.connect import Stores
from gateway.stores.postgres.restore.runs import restore_lock
from gateway.workers.settler import Settler
from tests.fault.procs import (
    Proc,
    Tenant,
    fault_stores,
    make_tenant,
    settle_directly,
    wait_healthy,
)
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.harness import (
    ADMIN_KEY,
    PG_ADMIN,
    REDIS_URL,
    drop_prefix,
    free_port,
    gateway_env,
)
from tests.support.invariants import check_invariants

GATEWAYS = 4
NOWHERE = "http://127.0.0.1:9"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _ready(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url + "/readyz", headers=ADMIN) as r:
        return r.status, await r.json()


async def _wait_ready(http: aiohttp.ClientSession, urls: list[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(urls)
    while pending and time.monotonic() < deadline:
        for url in sorted(pending):
            try:
                if (await _ready(http, url))[0] == 200:
                    pending.discard(url)
            except aiohttp.ClientError:
                pass
        await asyncio.sleep(0.1)
    assert not pending, f"never ready: {pending}"


async def _chat(http: aiohttp.ClientSession, url: str, key: str) -> tuple[int, dict[str, object]]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        return r.status, await r.json()


async def _restores(stores: Stores, prefix: str) -> list[str]:
    rows = await stores.pool.fetch(
        "SELECT trigger FROM redis_restores WHERE redis_prefix = $1 ORDER BY id", prefix
    )
    return [r["trigger"] for r in rows]


async def _balances_equal_ledger(stores: Stores, tenants: list[Tenant]) -> None:
    for t in tenants:
        total = await stores.pool.fetchval(
            "SELECT sum(amount_micros) FROM ledger_entries WHERE account_id = $1", t.account_id
        )
        assert await stores.store.balance(t.account_id) == (total, 0), t.account_id


async def _populated_ledger_empty_redis(stores: Stores, prefix: str) -> list[Tenant]:
    tenants = [await make_tenant(stores, 5_000_000) for _ in range(3)]
    for t in tenants:
        await settle_directly(stores, t, 20)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    await drop_prefix(REDIS_URL, prefix)
    assert not await stores.store.consistent()
    return tenants


@pytest.mark.timeout(360)
async def test_four_gateways_restore_an_empty_redis_once_and_serve(dsn: str) -> None:
    upstream = await start_upstream(control=UpstreamControl())
    prefix = f"mwt{secrets.token_hex(4)}"
    envs = [
        gateway_env(dsn, upstream.url, prefix, LISTEN_ADDR=f"127.0.0.1:{free_port()}")
        for _ in range(GATEWAYS)
    ]
    urls = [f"http://{env['LISTEN_ADDR']}" for env in envs]
    try:
        async with fault_stores(envs[0]) as (settings, stores), aiohttp.ClientSession() as http:
            tenants = await _populated_ledger_empty_redis(stores, prefix)
            gateways = [Proc(env, "serve") for env in envs]
            await asyncio.gather(*(g.start() for g in gateways))
            await _wait_ready(http, urls)
            assert await _restores(stores, prefix) == ["start"]
            await _balances_equal_ledger(stores, tenants)
            for url, t in zip(urls, [*tenants, tenants[0]], strict=False):
                assert (await _chat(http, url, t.key))[0] == 200

            # Redis emptied while serving; the restore is held back until we have looked.
            async with restore_lock(stores.pool, restore_lock_name(settings)):
                await drop_prefix(REDIS_URL, prefix)
                status, details = await _ready(http, urls[1])
                assert status == 503 and details["redis_consistent"] is False
                assert "being restored from the ledger" in str(details["error"])
                status, answer = await _chat(http, urls[2], tenants[1].key)
                assert status == 503, answer
                assert "being restored" in str(answer["error"]), answer
            await _wait_ready(http, urls)
            assert await _restores(stores, prefix) == ["start", "watcher"]
            await _balances_equal_ledger(stores, tenants)
            for url, t in zip(urls, [*tenants, tenants[0]], strict=False):
                assert (await _chat(http, url, t.key))[0] == 200

            for g in gateways:
                await g.kill(signal.SIGTERM)
            await Settler(stores.settlement_stream(), stores.ledger).drain()
            await check_invariants(stores, [t.account_id for t in tenants])
    finally:
        await upstream.close()


@pytest.mark.timeout(480)
async def test_a_brand_new_database_needs_only_serve_migrate(dsn: str) -> None:
    """An empty database and an empty Redis: `serve --migrate` alone, then the operator API
    and a proxied call work."""
    name = f"mwtest_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    upstream = await start_upstream(control=UpstreamControl())
    prefix = f"mwt{secrets.token_hex(4)}"
    env = gateway_env(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, upstream.url, prefix)
    url = f"http://{env['LISTEN_ADDR']}"
    gateway = Proc(env, "serve --migrate")
    try:
        await gateway.start()
        async with aiohttp.ClientSession() as http:
            await _wait_ready(http, [url])
            created = {"name": "new", "plan": "enterprise"}
            async with http.post(url + "/admin/v1/accounts", json=created, headers=ADMIN) as r:
                assert r.status == 201, await r.text()
                account = (await r.json())["id"]
            plan = {"plan": "enterprise", "mode": "prepaid", "billing_ready": True}
            async with http.put(
                url + f"/admin/v1/accounts/{account}/plan", json=plan, headers=ADMIN
            ) as r:
                assert r.status == 200, await r.text()
            credit = {"amount_micros": 1_000_000, "idempotency_key": "first"}
            async with http.post(
                url + f"/admin/v1/accounts/{account}/credits", json=credit, headers=ADMIN
            ) as r:
                assert r.status == 201, await r.text()
            async with http.post(
                url + "/admin/v1/keys", json={"account_id": account, "name": "k"}, headers=ADMIN
            ) as r:
                key = (await r.json())["key"]
            status, answer = await _chat(http, url, key)
            assert status == 200, answer
    finally:
        await gateway.kill(signal.SIGTERM)
        await upstream.close()
        await drop_prefix(REDIS_URL, prefix)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.timeout(480)
async def test_a_gateway_started_without_redis_serves_and_restores_once_it_is_back(
    dsn: str,
) -> None:
    proxy = CuttableProxy("127.0.0.1", 6379)
    await proxy.start()
    prefix = f"mwt{secrets.token_hex(4)}"
    env = gateway_env(dsn, NOWHERE, prefix, REDIS_URL=proxy.redis_url)
    url = f"http://{env['LISTEN_ADDR']}"
    gateway = Proc(env, "serve")
    try:
        async with fault_stores(gateway_env(dsn, NOWHERE, prefix)) as (_, stores):
            await drop_prefix(REDIS_URL, prefix)
            proxy.cut()
            await gateway.start()
            await wait_healthy(url)
            async with aiohttp.ClientSession() as http:
                status, details = await _ready(http, url)
                assert status == 503 and details["redis"] is False
                proxy.restore()
                await _wait_ready(http, [url])
            assert await _restores(stores, prefix) == ["watcher"]
    finally:
        await gateway.kill(signal.SIGTERM)
        await proxy.close()
