"""The Anthropic Messages route, JSON or SSE."""

from __future__ import annotations

from aiohttp import web

from gateway.devtools.demo_upstream.calls import ProviderError, model_of, open_call
from gateway.devtools.demo_upstream.control import Served, api_key_of
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import (
    last_user_text,
    max_tokens_of,
    prompt_text,
    split_chunks,
)
from gateway.devtools.demo_upstream.wires import anthropic as wire

ERRORS = wire.error_body


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages; like the real API, `max_tokens` is required."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    budget = max_tokens_of(call.body, "max_tokens")
    if budget is None:
        raise ProviderError(400, ERRORS(400, "max_tokens: Field required"))
    reply = call.reply(prompt_text(call.body), last_user_text(call.body), budget)
    usage = wire.usage(call.behaviour, reply)
    key = api_key_of(request.headers)
    call.control.served.append(Served("anthropic", "messages", key, model, usage))
    if call.body.get("stream") is True:
        pieces = split_chunks(reply.text, call.behaviour.chunks)
        frames = wire.message_frames(wire.new_id(), model, reply, pieces, usage)
        return await play(request, call, frames, wire.error_frame())
    call.finished()
    return web.json_response(wire.message(wire.new_id(), model, reply, usage))


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages/count_tokens: the prompt's tokens under the demo's counter."""
    call = await open_call(request, ERRORS)
    model_of(call, ERRORS)
    call.finished()
    return web.json_response({"input_tokens": call.control.counter(prompt_text(call.body))})
