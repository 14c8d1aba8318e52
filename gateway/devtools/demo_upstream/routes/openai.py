"""OpenAI-compatible routes: chat completions, legacy completions, embeddings."""

from __future__ import annotations

from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call, ProviderError, model_of, open_call
from gateway.devtools.demo_upstream.control import JSON, Served, api_key_of
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import (
    completion_prompt,
    embedding_vector,
    last_user_text,
    max_tokens_of,
    prompt_text,
    split_chunks,
)
from gateway.devtools.demo_upstream.wires import openai as wire

ERRORS = wire.error_body
DEFAULT_DIMENSIONS = 8


def _served(request: web.Request, call: Call, endpoint: str, model: str, usage: JSON) -> None:
    """Keep the call for the usage and cost reports (admin_reports.py)."""
    call.control.served.append(
        Served("openai", endpoint, api_key_of(request.headers), model, usage)
    )


def _streaming(call: Call) -> bool:
    return call.body.get("stream") is True


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions, JSON or SSE."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    budget = max_tokens_of(call.body, "max_completion_tokens", "max_tokens")
    reply = call.reply(prompt_text(call.body), last_user_text(call.body), budget)
    computed = wire.chat_usage(reply)
    _served(request, call, "completions", model, call.behaviour.usage or computed)
    if _streaming(call):
        tier = call.behaviour.service_tier
        meta = wire.Meta.new("chatcmpl", model, "chat.completion.chunk", tier)
        pieces = split_chunks(reply.text, call.behaviour.chunks)
        usage = wire.stream_usage(call.behaviour, call.body, computed)
        return await play(
            request, call, wire.chat_frames(meta, reply, pieces, usage), wire.error_frame()
        )
    meta = wire.Meta.new("chatcmpl", model, "chat.completion", call.behaviour.service_tier)
    call.finished()
    return web.json_response(
        wire.chat_completion(meta, reply, wire.json_usage(call.behaviour, computed))
    )


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions (legacy text completions), JSON or SSE."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    prompt = completion_prompt(call.body)
    reply = call.reply(prompt, prompt, max_tokens_of(call.body, "max_tokens"))
    computed = wire.legacy_usage(reply)
    meta = wire.Meta.new("cmpl", model, "text_completion")
    if _streaming(call):
        pieces = split_chunks(reply.text, call.behaviour.chunks)
        usage = wire.stream_usage(call.behaviour, call.body, computed)
        return await play(
            request, call, wire.completion_frames(meta, reply, pieces, usage), wire.error_frame()
        )
    call.finished()
    return web.json_response(
        wire.text_completion(meta, reply, wire.json_usage(call.behaviour, computed))
    )


async def embeddings(request: web.Request) -> web.StreamResponse:
    """POST /v1/embeddings: one small deterministic vector per input."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    inputs = wire.embedding_inputs(call.body.get("input"))
    if not inputs:
        raise ProviderError(400, ERRORS(400, "'input' is a required property"))
    dimensions = call.body.get("dimensions")
    if not isinstance(dimensions, int) or dimensions < 1:
        dimensions = DEFAULT_DIMENSIONS
    vectors = [embedding_vector(str(item), dimensions) for item in inputs]
    tokens = sum(len(i) if isinstance(i, list) else call.control.counter(i) for i in inputs)
    usage = call.behaviour.usage or {"prompt_tokens": tokens, "total_tokens": tokens}
    _served(request, call, "embeddings", model, usage)
    base64_format = call.body.get("encoding_format") == "base64"
    call.finished()
    return web.json_response(wire.embeddings(model, vectors, base64_format, usage))
