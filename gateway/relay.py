"""Relaying a provider's answer to the client and deciding what usage to bill.

Billing policy (README, "What gets billed"):
- upstream error status, network failure before any output: nothing billed, reservation released;
- complete answer: the provider's usage, or tokens counted with tiktoken when it reports none;
- stream cut by the client: upstream cancelled at once; input plus the output delivered so far;
- stream cut by the provider (error event, truncation, malformed data): the same, and the
  client gets a well-formed error event and the stream terminator.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web

from billing.stream_tally import AnthropicStreamTally, OpenAIStreamTally
from billing.tokens import TokenCounter
from billing.usage import Usage, usage_from_anthropic, usage_from_openai
from gateway.calls import Call
from gateway.sse import SSEParser


@dataclass(slots=True)
class StreamOutcome:
    usage: Usage
    client_gone: bool = False
    upstream_failed: bool = False


def counted_usage(
    call: Call, counter: TokenCounter, text_parts: list[str], input_tokens: int | None = None
) -> Usage:
    completion = counter.completion_counter(call.price.encoding)
    for part in text_parts:
        completion.feed(part)
    tokens = call.input_tokens if input_tokens is None else input_tokens
    return Usage(input_tokens=tokens, output_tokens=completion.count(), source="counted")


def _response_text(call: Call, payload: dict[str, Any]) -> list[str]:
    if call.endpoint == "messages":
        return [b.get("text", "") for b in payload.get("content") or [] if isinstance(b, dict)]
    parts = []
    for choice in payload.get("choices") or []:
        if isinstance(choice, dict):
            message = choice.get("message") or {}
            parts.append(str(message.get("content") or choice.get("text") or ""))
    return parts


def json_usage(call: Call, payload: dict[str, Any], counter: TokenCounter) -> Usage:
    """Usage of a complete JSON answer: the provider's, else counted."""
    raw = payload.get("usage")
    if isinstance(raw, dict):
        return usage_from_anthropic(raw) if call.endpoint == "messages" else usage_from_openai(raw)
    if call.endpoint == "embeddings":
        return Usage(input_tokens=call.input_tokens, source="counted")
    return counted_usage(call, counter, _response_text(call, payload))


def error_event(call: Call, message: str) -> bytes:
    if call.endpoint == "messages":
        body = {"type": "error", "error": {"type": "api_error", "message": message}}
        return b"event: error\ndata: " + json.dumps(body).encode() + b"\n\n"
    body2 = {
        "error": {
            "message": message,
            "type": "upstream_error",
            "code": "upstream_error",
            "param": None,
        }
    }
    return b"data: " + json.dumps(body2).encode() + b"\n\ndata: [DONE]\n\n"


async def relay_stream(
    call: Call, upstream: aiohttp.ClientResponse, out: web.StreamResponse, counter: TokenCounter
) -> StreamOutcome:
    """Pass events through as they arrive; hide only the usage chunk the client did not ask for."""
    anthropic = call.endpoint == "messages"
    tally: OpenAIStreamTally | AnthropicStreamTally = (
        AnthropicStreamTally() if anthropic else OpenAIStreamTally(call.client_wants_usage)
    )
    parser = SSEParser()
    delivered = 0
    failed = False
    try:
        try:
            async for chunk in upstream.content.iter_any():
                events = parser.feed(chunk)
                if not events:
                    continue
                out_bytes = b"".join([ev.raw for ev in events if tally.feed(ev)])
                if out_bytes:
                    await out.write(out_bytes)
                delivered = len(tally.text_parts)
            tail = parser.flush()
            failed = bool(tail) or not tally.done or tally.error is not None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError):
            failed = True
        if failed:
            await out.write(error_event(call, "The provider's stream ended abnormally."))
        await out.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        upstream.close()
        usage = _stream_usage(call, tally, counter, delivered, final=False)
        return StreamOutcome(usage, client_gone=True)
    usage = _stream_usage(call, tally, counter, len(tally.text_parts), final=not failed)
    return StreamOutcome(usage, upstream_failed=failed)


def _stream_usage(
    call: Call,
    tally: OpenAIStreamTally | AnthropicStreamTally,
    counter: TokenCounter,
    delivered: int,
    final: bool,
) -> Usage:
    parts = tally.text_parts[:delivered]
    if isinstance(tally, AnthropicStreamTally):
        provided = tally.usage()
        if provided is not None and tally.output_final and final:
            return provided
        if provided is not None:
            output = counted_usage(call, counter, parts).output_tokens
            return replace(provided, output_tokens=output, source="counted")
        return counted_usage(call, counter, parts)
    if tally.usage is not None:
        return tally.usage
    return counted_usage(call, counter, parts)
