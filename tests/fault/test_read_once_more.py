"""A redis-py command whose pooled connection is found closed only once it is used: a read
goes once more on a fresh connection (no 503 for an operator's or a customer's read after an
outage); a write, sent once, is never repeated (it may have run: a second INCR would count
twice). stores/redis/wire/read_once_more.py."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.stores.redis.wire.checked_connection import CheckedConnection
from gateway.stores.redis.wire.read_once_more import ReadOnceMoreRedis
from tests.support.harness import REDIS_URL


class DroppingProxy:
    """Passes bytes to the suite's Redis; `drop` set, the next command closes its connection
    (`before`: the command never reaches Redis; `after`: it runs, its reply is lost)."""

    def __init__(self) -> None:
        self.drop: str | None = None
        self.dropped = 0
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        try:
            while data := await reader.read(65536):
                drop, self.drop = self.drop, None
                if drop == "after":
                    up_writer.write(data)
                    await up_writer.drain()
                    await up_reader.read(65536)
                if drop:
                    self.dropped += 1
                    return
                up_writer.write(data)
                await up_writer.drain()
                writer.write(await up_reader.read(65536))
                await writer.drain()
        finally:
            writer.transport.abort()
            up_writer.transport.abort()


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[DroppingProxy, aioredis.Redis]]:
    proxy = DroppingProxy()
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    client = ReadOnceMoreRedis.from_url(
        f"redis://127.0.0.1:{proxy.port}/0", connection_class=CheckedConnection
    )
    try:
        yield proxy, client
    finally:
        await client.aclose()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


async def test_a_read_whose_connection_is_lost_goes_once_more(
    proxied: tuple[DroppingProxy, aioredis.Redis],
) -> None:
    proxy, client = proxied
    key = f"mwt{secrets.token_hex(4)}:read"
    direct = aioredis.Redis.from_url(REDIS_URL)
    try:
        await direct.hset(key, "bal", "7")
        assert await client.hget(key, "bal") == b"7"  # the pool holds a connection now
        for when in ("before", "after"):
            proxy.drop = when
            assert await client.hmget(key, ["bal"]) == [b"7"], when
        assert proxy.dropped == 2
    finally:
        await direct.delete(key)
        await direct.aclose()


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_write_whose_connection_is_lost_is_never_repeated(
    proxied: tuple[DroppingProxy, aioredis.Redis], when: str
) -> None:
    proxy, client = proxied
    key = f"mwt{secrets.token_hex(4)}:count"
    direct = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        proxy.drop = when
        with pytest.raises(RedisConnectionError):
            await client.incr(key)
        assert await direct.get(key) == (b"1" if when == "after" else None)
    finally:
        await direct.delete(key)
        await direct.aclose()
