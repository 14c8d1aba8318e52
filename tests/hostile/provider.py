"""A hostile fake provider: a local aiohttp server that misbehaves as each test scripts.

Every request it receives is recorded (path, headers, raw body). Answers come from a FIFO
`script` of handlers, else from `default` (an honest OpenAI/Anthropic-wire answer with
usage). A handler is any `async (request) -> StreamResponse`, so a test can redirect, echo
headers, lie about usage, stream forever or never answer, all in the real wire format.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def chat_body(text: str = "hello", usage: Any = USAGE) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    body: dict[str, Any] = {
        "id": "chatcmpl-h",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def sse(*payloads: Any, done: bool = True) -> bytes:
    """OpenAI-style SSE bytes: each payload as one `data:` event, then [DONE]."""
    events = [b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads]
    return b"".join(events) + (b"data: [DONE]\n\n" if done else b"")


def chunk(text: str | None = None, usage: Any = None) -> dict[str, Any]:
    choices = [] if text is None else [{"index": 0, "delta": {"content": text}}]
    body: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return body


def json_answer(body: Any, status: int = 200) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return handle


def stream_answer(parts: list[bytes], delay_s: float = 0.0) -> Handler:
    """Write each part as its own chunk, `delay_s` apart."""

    async def handle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for part in parts:
            await resp.write(part)
            await asyncio.sleep(delay_s)
        await resp.write_eof()
        return resp

    return handle


async def honest(request: web.Request) -> web.StreamResponse:
    body = json.loads(await request.read())
    if body.get("stream"):
        return await stream_answer([sse(chunk("hel"), chunk("lo"), chunk(usage=USAGE))])(request)
    return web.json_response(chat_body())


@dataclass
class HostileProvider:
    script: list[Handler] = field(default_factory=list)
    default: Handler = honest
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.seen.append(Seen(request.path, headers, body))
        handler = self.script.pop(0) if self.script else self.default
        return await handler(request)

    async def start(self) -> HostileProvider:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
