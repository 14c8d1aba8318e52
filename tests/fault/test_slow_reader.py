"""A streaming client that stops reading for longer than the reservation's lifetime, then
reads to the end: the reservation is kept alive while the relay runs, nothing is voided,
and the stream is billed in full (the same as one read straight through)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from gateway.stores.redis.keys import shard_of
from gateway.workers.sweeper import sweep_once
from tests.support.factories import debits, ledger, tenant
from tests.support.harness import Gateway, running_gateway
from tests.support.invariants import check_invariants

WORDS = 60_000
CHUNKS = 45_000


async def _stream(gw: Gateway, key: str, pause_shard: int | None) -> int:
    """One streamed call over a socket with a tiny receive buffer; returns events received."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    host, port = gw.url.removeprefix("http://").split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    body = json.dumps(
        {
            "model": "gpt-5-nano",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 120_000,
            "stream": True,
        }
    ).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    try:
        received = [await reader.read(4096)]
        if pause_shard is not None:
            await _outlive_the_reservation(gw, pause_shard)
        while chunk := await reader.read(65536):
            received.append(chunk)
    finally:
        writer.close()
    return b"".join(received).count(b"\ndata: ")


async def _outlive_the_reservation(gw: Gateway, shard: int) -> None:
    """The relay is blocked on our unread socket while the clock passes twice the lifetime."""
    step_ms = int(gw.settings.reservation_ttl_s * 1000) // 2
    for _ in range(4):
        assert await gw.store.redis.hlen(gw.store.keys.reservations(shard)) == 1, "not serving"
        await gw.advance_clock(step_ms)
        await asyncio.sleep(0.5)  # the hold's heartbeat (every 0.1 s) moves the deadline
        assert await sweep_once(gw.store) == 0


@pytest.mark.timeout(480)
async def test_reader_paused_past_the_reservation_lifetime_is_billed_in_full(dsn: str) -> None:
    async with running_gateway(dsn, HOLD_REFRESH_S="0.1") as gw:
        gw.control.reply_text = " ".join(["meter"] * WORDS)
        gw.control.chunks = CHUNKS  # ~10 MB of events: more than the sockets buffer
        t = await tenant(gw, credit=10_000_000)
        straight = await _stream(gw, t.key, None)
        paused = await _stream(gw, t.key, shard_of(t.account_id))
        assert paused == straight > CHUNKS
        rows = await debits(gw, t.account_id)
        assert len(rows) == 2 and rows[0]["amount_micros"] == rows[1]["amount_micros"] < 0
        assert rows[0]["output_tokens"] >= WORDS
        assert not [r for r in await ledger(gw, t.account_id) if r["kind"] == "void"]
        await check_invariants(gw.stores(), [t.account_id])
