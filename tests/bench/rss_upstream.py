"""The provider for the memory benchmark: slow honest streams, quick JSON answers, and the two
oversized answers of issue 10 item 15 (a 200 MB JSON body, one 300 MB SSE event).

What it answers is chosen by the last user message: "huge-json", "huge-sse", else an honest
answer (streamed in STREAM_CHUNKS chunks, CHUNK_DELAY_S apart, when asked to stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

STREAM_CHUNKS = 40
CHUNK_DELAY_S = 1.0
MIB = 1024 * 1024
USAGE = {"prompt_tokens": 9, "completion_tokens": STREAM_CHUNKS, "total_tokens": 9 + STREAM_CHUNKS}


def _chunk(delta: dict[str, Any], usage: dict[str, int] | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": None}],
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


async def _padding(resp: web.StreamResponse, head: bytes, total: int) -> web.StreamResponse:
    """`head`, then `total` bytes of 'a' in 1 MiB writes, never closed by a terminator."""
    block = b"a" * MIB
    with contextlib.suppress(ConnectionError):  # the gateway hangs up at its cap
        await resp.write(head)
        for _ in range(total // MIB):
            await resp.write(block)
    return resp


async def _stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_chunk({"role": "assistant", "content": ""}))
    for n in range(STREAM_CHUNKS):
        await asyncio.sleep(CHUNK_DELAY_S)
        await resp.write(_chunk({"content": f" word{n}"}))
    await resp.write(_chunk({}, USAGE) + b"data: [DONE]\n\n")
    return resp


def _answer() -> web.Response:
    message = {"role": "assistant", "content": "ok"}
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    return web.json_response(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
    )


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    asked = str(body["messages"][-1]["content"])
    if asked == "huge-json":
        resp = web.StreamResponse(headers={"content-type": "application/json"})
        await resp.prepare(request)
        return await _padding(resp, b'{"id": "x", "pad": "', 200 * MIB)
    if asked == "huge-sse":
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        return await _padding(resp, b'data: {"pad": "', 300 * MIB)
    return await _stream(request) if body.get("stream") else _answer()


async def start(port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    return runner
