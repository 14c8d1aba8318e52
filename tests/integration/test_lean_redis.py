"""The lean hot-path client on a real Redis: many callers share one connection, each gets
its own reply, and a connection that stops answering fails its callers and is replaced, while
one that answers a deep queue slowly, or whose replies wait on a starved event loop, is kept
(CI: 900 metering holds at once on a loaded machine were failed as 'connection lost')."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time

import pytest
import redis.asyncio as aioredis

from gateway.stores.redis.wire.resp import (
    Endpoint,
    ReplyError,
    WireError,
    WireRedis,
    WireScript,
    parse_url,
    within_running_time,
)
from tests.bench.redis_work import private_redis
from tests.support.harness import REDIS_URL

# Holds Redis for ARGV[1] milliseconds, then answers: a slow command on a live connection.
BUSY = """
local t = redis.call('TIME')
local until_us = t[1] * 1000000 + t[2] + ARGV[1] * 1000
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= until_us
return ARGV[1]
"""
PAD = "x" * 20_000


def lean(timeout_s: float = 5.0, url: str = REDIS_URL) -> WireRedis:
    endpoint = parse_url(url)
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
        with pytest.raises(WireError, match=r"no reply for \d\.\d s, closed by Meterway"):
            await blocked
        with pytest.raises(WireError, match="closed by Meterway"):
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


async def test_a_deep_queue_answered_slower_than_the_timeout_is_kept() -> None:
    """Fifteen 200 ms commands sent at once take 3 s on a 1 s timeout: the last waits far
    past it, but Redis answers a few every 600 ms, so no caller is failed. (Each carries 20 kB,
    more than Redis reads from a socket at once: Redis answers the commands of one read
    together, so smaller ones would be answered as one silent block.)"""
    async with private_redis() as url:
        client = lean(timeout_s=1.0, url=url)
        try:
            replies = await asyncio.gather(
                *(client.execute("EVAL", BUSY, 0, 200, PAD) for _ in range(15))
            )
            assert replies == [b"200"] * 15
        finally:
            await client.close()


async def test_replies_waiting_on_a_starved_event_loop_are_kept() -> None:
    """The loop is held for 2.5 s (five timeouts) while a reply sits unread in the socket:
    the late check judges nothing, and the caller gets its reply."""
    client = lean(timeout_s=0.5)
    try:
        assert await client.execute("PING") in (b"PONG", "PONG")
        pending = asyncio.ensure_future(client.execute("EVAL", BUSY, 0, 50))
        for _ in range(3):
            await asyncio.sleep(0)  # the task runs, the write leaves; the reply is 50 ms away
        time.sleep(2.5)  # noqa: ASYNC251 - the starved loop is the point
        assert await pending == b"50"
    finally:
        await client.close()


async def test_a_connect_waiting_on_a_starved_event_loop_is_kept() -> None:
    """The loop is held for 1.5 s (three connect timeouts) while Redis's answer to the
    connect sits unread: the connect is kept and the call answered. (CI: a metering call was
    answered 503, 'cannot connect to Redis', by a test process starved past the timeout.)"""
    endpoint = parse_url(REDIS_URL)
    assert endpoint is not None
    client = WireRedis(endpoint, connect_timeout_s=0.5)
    try:
        pending = asyncio.ensure_future(client.execute("PING"))
        await asyncio.sleep(0)  # the connect leaves; its answer is microseconds away
        time.sleep(1.5)  # noqa: ASYNC251 - the starved loop is the point
        assert await pending in (b"PONG", "PONG")
    finally:
        await client.close()


async def test_a_connect_nobody_answers_fails_after_the_timeout() -> None:
    """A listener whose accept queue is full drops the SYN (the kernel resends it 1 s
    later): the caller fails with WireError once the timeout has run on a loop that was free
    to notice an answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        host, port = listener.getsockname()
        queued = [socket.socket() for _ in range(3)]
        for connection in queued:  # the queue's one place taken, then SYNs that wait
            connection.setblocking(False)
            connection.connect_ex((host, port))
        client = WireRedis(Endpoint(host, port, 0, None, None), connect_timeout_s=0.5)
        started = time.monotonic()
        try:
            with pytest.raises(WireError, match=f"cannot connect to Redis at {host}:{port}"):
                await client.execute("PING")
            assert 0.5 <= time.monotonic() - started < 2.0
        finally:
            await client.close()
            for connection in queued:
                connection.close()


async def test_a_wait_shorter_than_a_turn_of_the_loop_still_times_out() -> None:
    """A wait of 0.5 ms comes back after 1 ms (uvloop's timers count whole milliseconds),
    over twice its length: the loop's own grain, not a starved process, so it counts and the
    wait gives up. (The suite: a connect to a full accept queue waited for the kernel's
    127 s once its first 0.5 s step had left that little; it never counted again.)"""
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(within_running_time(never, 0.0005))
    done, _ = await asyncio.wait({waiting}, timeout=5)
    assert waiting in done, "still waiting after 5 s"
    assert isinstance(waiting.exception(), TimeoutError)
    assert never.cancelled()


async def test_a_new_connection_loads_the_scripts_before_it_carries_a_call() -> None:
    """A Redis that restarted has no scripts: a settle sent on the new connection must not be
    answered NOSCRIPT (it would be sent again a round trip after its answer went out), so
    the connection loads every script the client knows first."""
    async with private_redis() as url:
        client = lean(url=url)
        script = WireScript(client, "return ARGV[1]")
        commands = aioredis.Redis.from_url(url)
        try:
            assert await script((), ("one",)) == b"one"
            await commands.script_flush()
            dropped = client._proto
            assert dropped is not None
            await commands.client_kill_filter(_type="normal")  # as a restart drops it
            async with asyncio.timeout(5):
                await dropped.closed
            calls = int((await commands.info("commandstats"))["cmdstat_evalsha"]["calls"])
            assert await script((), ("two",)) == b"two"
            stats = await commands.info("commandstats")
            assert int(stats["cmdstat_evalsha"]["calls"]) == calls + 1  # no NOSCRIPT retry
            assert "cmdstat_eval" not in stats
        finally:
            await commands.aclose()
            await client.close()
