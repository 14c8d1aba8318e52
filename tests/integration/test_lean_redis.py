"""The lean hot-path client on a real Redis: many callers share one connection, each gets
its own reply, and a connection that stops answering fails its callers and is replaced."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
import redis.asyncio as aioredis

from gateway.stores.redis.resp import ReplyError, WireError, WireRedis, parse_url
from tests.support.harness import REDIS_URL


def lean(timeout_s: float = 5.0) -> WireRedis:
    endpoint = parse_url(REDIS_URL)
    assert endpoint is not None
    return WireRedis(endpoint, timeout_s=timeout_s)


async def test_concurrent_callers_each_get_their_own_reply() -> None:
    """Commands from many tasks, several to a write and over several loop turns, share one
    connection; replies come back in order and reach the caller that sent each one, an error
    only its own caller."""
    key = f"lean:{secrets.token_hex(4)}"
    client = lean()

    async def one(i: int) -> object:
        await asyncio.sleep(0 if i % 3 else 0.001)  # callers spread over several loop turns
        if i % 50 == 7:
            return await client.execute("INCR", f"{key}:text")  # holds text: an error
        return await client.execute("ECHO", f"v{i}")

    try:
        await client.execute("SET", f"{key}:text", "not a number")
        replies = await asyncio.gather(*(one(i) for i in range(2_000)), return_exceptions=True)
        for i, reply in enumerate(replies):
            if i % 50 == 7:
                assert isinstance(reply, ReplyError), (i, reply)
            else:
                assert reply == f"v{i}".encode(), (i, reply)
        assert await client.execute("PING") in (b"PONG", "PONG")
    finally:
        await client.execute("DEL", f"{key}:text")
        await client.close()


async def test_an_overdue_reply_fails_its_callers_and_the_next_call_reconnects() -> None:
    key = f"lean:{secrets.token_hex(4)}"
    client = lean(timeout_s=0.5)
    try:
        started = time.monotonic()
        blocked = asyncio.ensure_future(client.execute("BLPOP", key, 30))
        behind = asyncio.ensure_future(client.execute("ECHO", "behind the blocked call"))
        with pytest.raises(WireError):
            await blocked
        with pytest.raises(WireError):
            await behind
        assert time.monotonic() - started < 5.0  # the watchdog, not BLPOP's own timeout
        assert await client.execute("ECHO", "again") == b"again"
        # The blocked call's connection is gone: the push is not taken by a ghost BLPOP.
        admin = aioredis.Redis.from_url(REDIS_URL)
        try:
            await admin.rpush(key, "x")
            assert await admin.lpop(key) == b"x"
        finally:
            await admin.aclose()
    finally:
        await client.close()
