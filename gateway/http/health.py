"""Liveness and readiness: /healthz says the process runs, /readyz that it can meter."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from gateway.appkeys import PG, REDIS, STORE
from gateway.stores.redis.keys import SHARDS
from gateway.workers.settler import backlog


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _postgres(request: web.Request) -> bool:
    try:
        await asyncio.wait_for(request.app[PG].fetchval("SELECT 1"), 2)
        return True
    except (OSError, TimeoutError, Exception):
        return False


async def readyz(request: web.Request) -> web.Response:
    details: dict[str, Any] = {"postgres": await _postgres(request)}
    try:
        client = request.app[REDIS]
        store = request.app[STORE]
        await client.ping()
        ready = await client.exists(*[store.keys.ready(s) for s in range(SHARDS)])
        lag = await backlog(client, store.keys)
        details.update(
            redis=True,
            redis_consistent=ready == SHARDS,
            settlement_backlog=lag.length,
            settlement_lag_ms=lag.oldest_age_ms,
        )
    except (RedisError, OSError):
        details.update(redis=False, redis_consistent=False)
    ok = details["redis"] and details["postgres"] and details["redis_consistent"]
    return web.json_response(
        {"status": "ready" if ok else "not_ready", **details}, status=200 if ok else 503
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
