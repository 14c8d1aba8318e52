"""The composition root: create_app(settings) builds every client and background task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from billing.plans import load_plans
from billing.pricing import load_pricing
from billing.tokens import TokenCounter
from gateway.appkeys import (
    COUNTER,
    KEYS,
    LEDGER,
    METER,
    PG,
    PLANS,
    PRICING,
    REDIS,
    SESSION,
    SETTINGS,
    STORE,
)
from gateway.http import admin, health, metrics, proxy
from gateway.http.middleware import errors_middleware
from gateway.services.auth import KeyResolver
from gateway.services.metering import Meter
from gateway.settings import PROVIDERS, Settings
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.resp import WireRedis, parse_url
from gateway.workers.settler import Settler
from gateway.workers.sweeper import run_sweeper


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = aioredis.Redis.from_url(
        settings.redis_url,
        max_connections=512,
        socket_connect_timeout=2,
        socket_timeout=5,
    )
    app[REDIS] = client
    endpoint = parse_url(settings.redis_url)
    wire = WireRedis(endpoint) if endpoint is not None else None
    store = HotStore.for_settings(client, settings, wire)
    app[STORE] = store
    app[KEYS] = KeyResolver(store)
    app[METER] = Meter(store, app[PLANS], settings.billing_url)
    yield
    await app[METER].drain()
    if wire is not None:
        await wire.close()
    await client.aclose()


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(app[SETTINGS].database_url, min_size=1, max_size=8)
    app[PG] = pool
    app[LEDGER] = Ledger(pool)
    yield
    await pool.close()


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    timeout = aiohttp.ClientTimeout(
        total=settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s
    )
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    session = aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False)
    app[SESSION] = session
    yield
    await session.close()


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run_sweeper(app[STORE], stop=stop))]
    settler = Settler(app[REDIS], app[STORE].keys, app[LEDGER], batch=settings.settler_batch)
    if settings.settler_enabled:
        tasks.append(asyncio.create_task(settler.run(stop=stop)))
    yield
    await app[METER].drain()  # settlements still in flight reach the streams first
    stop.set()
    _, pending = await asyncio.wait(tasks, timeout=5)
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if settings.settler_enabled:
        with contextlib.suppress(Exception):
            await settler.drain(timeout_s=5)


def create_app(settings: Settings, counter: TokenCounter | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[PRICING] = load_pricing(settings.pricing_path, frozenset(PROVIDERS))
    app[PLANS] = load_plans(settings.plans_path)
    app[COUNTER] = counter or TokenCounter()
    app[COUNTER].preload()
    app.cleanup_ctx.extend([_redis, _postgres, _upstream, _background])
    proxy.add_routes(app)
    admin.add_routes(app)
    health.add_routes(app)
    metrics.add_routes(app)
    return app
