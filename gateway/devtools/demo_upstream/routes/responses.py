"""The Responses API routes: create (JSON, SSE or background), retrieve, cancel, input items,
delete. Responses are kept in `control.stored`, so a test can look at what was created."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.devtools.demo_upstream.calls import CONTROL, ProviderError, model_of, open_call
from gateway.devtools.demo_upstream.control import JSON
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import content_text, max_tokens_of, split_chunks
from gateway.devtools.demo_upstream.wires import openai as openai_wire
from gateway.devtools.demo_upstream.wires import responses as wire

ERRORS = openai_wire.error_body


@dataclass
class Stored:
    """A response the fake keeps: its final form, and when (if background) it gets there."""

    body: JSON
    base: JSON
    final: JSON
    ready_at: float
    cancelled: JSON | None = None

    def now(self) -> JSON:
        if self.cancelled is not None:
            return self.cancelled
        if time.monotonic() >= self.ready_at:
            return self.final
        return {**self.base, "status": "in_progress"}


def _texts(body: JSON) -> tuple[str, str]:
    """(everything billed as input, the last user text the demo echoes)."""
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    texts = [content_text(i.get("content")) for i in items]
    users = [content_text(i.get("content")) for i in items if i.get("role", "user") == "user"]
    prompt = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    return "\n".join(p for p in prompt + texts if p), users[-1] if users else ""


async def create(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    prompt, user_text = _texts(call.body)
    reply = call.reply(prompt, user_text, max_tokens_of(call.body, "max_output_tokens"))
    b = call.behaviour
    resp_id, msg_id = wire.new_id("resp"), wire.new_id("msg")
    base = wire.response(call.body, resp_id, model, b.service_tier)
    final = wire.finished(base, reply, b.web_searches, wire.usage(b, reply), msg_id)
    background = call.body.get("background") is True
    ready_at = time.monotonic() + (b.background_s if background else 0)
    call.control.stored[resp_id] = Stored(call.body, base, final, ready_at)
    if call.body.get("stream") is True:
        pieces = split_chunks(reply.text, b.chunks)
        frames = wire.frames(base, final, b.web_searches, pieces, msg_id)
        return await play(request, call, frames, wire.error_frame())
    call.finished()
    return web.json_response({**base, "status": "queued"} if background else final)


def _stored(request: web.Request) -> Stored:
    found = request.app[CONTROL].stored.get(request.match_info["response_id"])
    if not isinstance(found, Stored):
        rid = request.match_info["response_id"]
        raise ProviderError(404, ERRORS(404, f"Response with id '{rid}' not found."))
    return found


async def retrieve(request: web.Request) -> web.StreamResponse:
    await open_call(request, ERRORS, body_required=False)
    return web.json_response(_stored(request).now())


async def cancel(request: web.Request) -> web.StreamResponse:
    """Only a background response that is still running can be cancelled."""
    await open_call(request, ERRORS, body_required=False)
    stored = _stored(request)
    if stored.base["background"] is not True:
        raise ProviderError(400, ERRORS(400, "Only background responses can be cancelled."))
    current = stored.now()
    if current["status"] in ("queued", "in_progress"):
        used: Any = stored.final["usage"] or {}
        partial = {
            **used,
            "output_tokens": 0,
            "total_tokens": used.get("input_tokens", 0),
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        stored.cancelled = {**stored.base, "status": "cancelled", "usage": partial}
    return web.json_response(stored.now())


async def input_items(request: web.Request) -> web.StreamResponse:
    await open_call(request, ERRORS, body_required=False)
    return web.json_response(wire.input_items(_stored(request).body))


async def delete(request: web.Request) -> web.StreamResponse:
    await open_call(request, ERRORS, body_required=False)
    _stored(request)
    rid = request.match_info["response_id"]
    del request.app[CONTROL].stored[rid]
    return web.json_response({"id": rid, "object": "response", "deleted": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{response_id}", retrieve)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel)
    app.router.add_get("/v1/responses/{response_id}/input_items", input_items)
    app.router.add_delete("/v1/responses/{response_id}", delete)
