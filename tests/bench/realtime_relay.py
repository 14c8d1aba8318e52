"""The per-frame cost of Meterway's Realtime relay against a bare aiohttp WebSocket
pass-through, measured side by side in one run:

    .venv/bin/python -m tests.bench.realtime_relay [--frames 2000] [--rounds 3]

Both arms sit in front of the same fake provider (tests/support/fakes/realtime.py), in this one
process, and carry the same session: `--frames` audio appends up (20 ms of 24 kHz PCM, 960
bytes, each), then one `response.create` whose answer is `--frames` audio deltas and
`--frames` transcript deltas down. A frame's cost is the session's wall time over its frames
(3 x frames); the arms alternate, round after round, and the best round of each is kept.
The bare arm parses nothing; Meterway's reads every frame's JSON and holds and settles the
response (one reserve, one settle, in Redis). A short run: do not load a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from tests.support.factories import tenant
from tests.support.fakes.realtime import fake_realtime
from tests.support.harness import free_port, running_gateway, temp_database

APPEND = orjson.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00\x00" * 480).decode()}
).decode()


@asynccontextmanager
async def bare_proxy(upstream: str) -> AsyncIterator[str]:
    """A WebSocket pass-through: every frame copied to the other side, nothing read."""
    http = aiohttp.ClientSession()

    async def pump(
        src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
        dst: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
    ) -> None:
        async for msg in src:
            if msg.type != WSMsgType.TEXT:
                break
            await dst.send_str(msg.data)
        await dst.close()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        up = await http.ws_connect(upstream + "/realtime?" + request.query_string)
        client = web.WebSocketResponse()
        await client.prepare(request)
        await asyncio.gather(pump(client, up), pump(up, client))
        return client

    app = web.Application()
    app.router.add_get("/v1/realtime", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
    finally:
        await runner.cleanup()
        await http.close()


async def session(http: aiohttp.ClientSession, url: str, key: str, frames: int) -> float:
    """One session's wall time: frames up, one response of 2 x frames deltas down."""
    async with http.ws_connect(url, headers={"Authorization": f"Bearer {key}"}) as ws:
        await ws.receive()  # session.created
        started = time.perf_counter()
        for _ in range(frames):
            await ws.send_str(APPEND)
        await ws.send_str('{"type":"response.create"}')
        async for msg in ws:
            if '"response.done"' in msg.data[:64]:
                break
        return time.perf_counter() - started


async def main(frames: int, rounds: int) -> None:
    async with temp_database() as dsn, fake_realtime() as (upstream, control):
        control.deltas = frames
        async with (
            running_gateway(dsn, OPENAI_BASE_URL=upstream) as gw,
            bare_proxy(upstream) as bare,
        ):
            t = await tenant(gw, credit=10**12)
            ours = gw.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
            best = {"bare": float("inf"), "meterway": float("inf")}
            async with aiohttp.ClientSession() as http:
                for _ in range(rounds):
                    for arm, url in (("bare", bare), ("meterway", ours)):
                        best[arm] = min(best[arm], await session(http, url, t.key, frames))
            await gw.settle_all()
    per = {arm: s / (3 * frames) * 1e6 for arm, s in best.items()}
    print("| arm | µs per frame | / bare |\n|---|---:|---:|")
    for arm, us in per.items():
        print(f"| {arm} | {us:.1f} | {us / per['bare']:.2f}x |")
    print(f"Meterway adds {per['meterway'] - per['bare']:.1f} µs per frame ({frames} frames x 3)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.frames, args.rounds))
