"""Opening the stores outside a web app (CLI commands), and running the server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.redis.hotstore import HotStore


@dataclass
class Stores:
    redis: aioredis.Redis
    store: HotStore
    pool: asyncpg.Pool
    ledger: Ledger


@contextlib.asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[Stores]:
    client = aioredis.Redis.from_url(settings.redis_url)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    try:
        store = HotStore.for_settings(client, settings)
        yield Stores(client, store, pool, Ledger(pool))
    finally:
        await pool.close()
        await client.aclose()


async def serve(
    settings: Settings, *, reuse_port: bool = False, ready: asyncio.Event | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then drain in-flight settlements and stop."""
    runner = web.AppRunner(create_app(settings), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.listen_host, settings.listen_port, reuse_port=reuse_port, backlog=4096
    )
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve_workers(settings: Settings) -> None:
    """WORKERS > 1: fork that many processes sharing the port with SO_REUSEPORT."""
    import uvloop

    children = []
    for _ in range(settings.workers - 1):
        pid = os.fork()
        if pid == 0:
            uvloop.run(serve(settings, reuse_port=True))
            os._exit(0)
        children.append(pid)
    try:
        uvloop.run(serve(settings, reuse_port=settings.workers > 1))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
