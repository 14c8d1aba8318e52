"""Anthropic's models on Vertex AI: `/v1/projects/{p}/locations/{l}/publishers/anthropic/
models/{model}:rawPredict` answers Anthropic's JSON, `:streamRawPredict` its SSE. Like
Vertex, it wants a bearer token, `anthropic_version` "vertex-2023-10-16" in the body and no
`model` there (it is in the path)."""

from __future__ import annotations

from aiohttp import web

from gateway.devtools.demo_upstream.calls import ProviderError, open_call
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import (
    last_user_text,
    max_tokens_of,
    prompt_text,
    split_chunks,
)
from gateway.devtools.demo_upstream.wires import anthropic as wire

ROOT = "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}"
ERRORS = wire.error_body


async def raw_predict(request: web.Request) -> web.StreamResponse:
    if not request.headers.get("authorization", "").startswith("Bearer "):
        raise ProviderError(401, ERRORS(401, "Request is missing a valid OAuth token."))
    call = await open_call(request, ERRORS)
    if call.body.get("anthropic_version") != "vertex-2023-10-16" or "model" in call.body:
        raise ProviderError(400, ERRORS(400, "anthropic_version vertex-2023-10-16 required"))
    model = request.match_info["model"]
    budget = max_tokens_of(call.body, "max_tokens")
    reply = call.reply(prompt_text(call.body), last_user_text(call.body), budget)
    usage = wire.usage(call.behaviour, reply)
    if request.path.endswith(":streamRawPredict"):
        pieces = split_chunks(reply.text, call.behaviour.chunks)
        frames = wire.message_frames(wire.new_id(), model, reply, pieces, usage)
        return await play(request, call, frames, wire.error_frame())
    call.finished()
    return web.json_response(wire.message(wire.new_id(), model, reply, usage))


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{ROOT}:rawPredict", raw_predict)
    app.router.add_post(f"{ROOT}:streamRawPredict", raw_predict)
