"""A provider of the attacks' own (OpenAI wire, chat completions): it reports the usage the
test sets, can hold an answer until the test releases it, fail, and counts what it was sent.
It lies as told; Meterway must price what it reports, under its documented caps."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.harness import listening_socket, port_of, serving


@dataclass
class Provider:
    url: str = ""
    prompt_tokens: int = 1000
    completion_tokens: int = 500
    status: int = 200
    # per prompt text: usage of its own (prompt_tokens, completion_tokens)
    usage_by_prompt: dict[str, tuple[int, int]] = field(default_factory=dict)
    # set by the test: answers wait on it (a fresh Event holds every answer)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[dict[str, Any]] = field(default_factory=list)
    answered: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    def hold(self) -> None:
        self.gate = asyncio.Event()
        self.arrived = asyncio.Event()

    def release(self) -> None:
        self.gate.set()


def _prompt(body: dict[str, Any]) -> str:
    msgs = body.get("messages") or []
    return str(msgs[-1].get("content", "")) if msgs else ""


@asynccontextmanager
async def fake_provider() -> AsyncIterator[Provider]:
    p = Provider()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        p.received.append(body)
        p.arrived.set()
        await p.gate.wait()
        if p.status != 200:
            return web.json_response(
                {"error": {"message": "provider down", "type": "server_error"}}, status=p.status
            )
        inp, out = p.usage_by_prompt.get(_prompt(body), (p.prompt_tokens, p.completion_tokens))
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        cid = "chatcmpl-" + secrets.token_hex(8)
        p.answered += 1
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            chunk = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            last = {**chunk, "choices": [], "usage": usage}
            await resp.write(f"data: {json.dumps(last)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    sock = listening_socket()
    p.url = f"http://127.0.0.1:{port_of(sock)}"
    async with serving(app, sock):
        yield p
