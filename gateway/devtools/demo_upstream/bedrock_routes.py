"""AWS Bedrock: the Converse API (`/model/{modelId}/converse`, and `/converse-stream` in
event-stream frames named by event type) and InvokeModel for Anthropic models
(`/model/{modelId}/invoke` answers Anthropic's JSON, `/invoke-with-response-stream` the same
stream events in AWS's binary event-stream framing, each a `chunk` message whose JSON
payload carries the Anthropic event base64-encoded in `bytes`, the last with Bedrock's
invocation metrics).

Like Bedrock, InvokeModel wants `anthropic_version` in the body and no `model`, and every
route refuses a request that is not SigV4-signed (403). It does not check the signature
itself: tests verify the recorded request with botocore's own signer, as AWS would.
"""

from __future__ import annotations

import base64
import struct
import zlib

import orjson
from aiohttp import web

from gateway.devtools.demo_upstream import anthropic_wire as wire
from gateway.devtools.demo_upstream.calls import Call, ProviderError, open_call
from gateway.devtools.demo_upstream.text import (
    last_user_text,
    max_tokens_of,
    prompt_text,
    split_chunks,
)


def error_body(status: int, message: str) -> dict[str, str]:
    """Bedrock's error body; its type travels in the `x-amzn-errortype` header."""
    return {"message": message}


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude and its CRC, headers, payload, message CRC."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    prelude = struct.pack(">II", 16 + len(head) + len(payload), len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def chunk(event: dict[str, object]) -> bytes:
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(event)).decode()})
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, payload)


def _checked(request: web.Request) -> None:
    if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
        raise ProviderError(403, error_body(403, "Missing Authentication Token"))


async def invoke(request: web.Request) -> web.StreamResponse:
    _checked(request)
    call = await open_call(request, error_body)
    if call.body.get("anthropic_version") != "bedrock-2023-05-31" or "model" in call.body:
        raise ProviderError(400, error_body(400, "Malformed input request"))
    model = request.match_info["model_id"]
    budget = max_tokens_of(call.body, "max_tokens")
    reply = call.reply(prompt_text(call.body), last_user_text(call.body), budget)
    usage = wire.usage(call.behaviour, reply)
    if not request.path.endswith("/invoke-with-response-stream"):
        call.finished()
        return web.json_response(wire.message(wire.new_id(), model, reply, usage))
    pieces = split_chunks(reply.text, call.behaviour.chunks)
    frames = wire.message_frames(wire.new_id(), model, reply, pieces, usage)
    response = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
    await response.prepare(request)
    events = [orjson.loads(f.data) for f in frames]
    events[-1]["amazon-bedrock-invocationMetrics"] = {"inputTokenCount": usage["input_tokens"]}
    for event in events:
        await response.write(chunk(event))
    await response.write_eof()
    call.finished()
    return response


def _converse_usage(call: Call, prompt: int, completion: int) -> dict[str, int]:
    if call.behaviour.usage is not None:
        return dict(call.behaviour.usage)
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


def _converse_text(body: dict[str, object]) -> tuple[str, str]:
    texts = []
    for message in body.get("messages") or []:  # type: ignore[attr-defined]
        for block in message.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
    return " ".join(texts), texts[-1] if texts else ""


async def converse(request: web.Request) -> web.StreamResponse:
    """Converse and ConverseStream: any model, Bedrock's own message shape."""
    _checked(request)
    call = await open_call(request, error_body)
    if "model" in call.body or not isinstance(call.body.get("messages"), list):
        raise ProviderError(400, error_body(400, "Malformed input request"))
    config = call.body.get("inferenceConfig") or {}
    budget = config.get("maxTokens") if isinstance(config, dict) else None
    prompt, last = _converse_text(call.body)
    reply = call.reply(prompt, last, budget if isinstance(budget, int) else None)
    usage = _converse_usage(call, reply.prompt_tokens, reply.completion_tokens)
    if not request.path.endswith("/converse-stream"):
        call.finished()
        message = {"role": "assistant", "content": [{"text": reply.text}]}
        return web.json_response(
            {"output": {"message": message}, "stopReason": "end_turn", "usage": usage}
        )
    response = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
    await response.prepare(request)
    events: list[tuple[str, dict[str, object]]] = [("messageStart", {"role": "assistant"})]
    for piece in split_chunks(reply.text, call.behaviour.chunks):
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
    events += [
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "end_turn"}),
        ("metadata", {"usage": usage, "metrics": {"latencyMs": 1}}),
    ]
    for name, event in events:
        headers = {
            ":event-type": name,
            ":content-type": "application/json",
            ":message-type": "event",
        }
        await response.write(frame(headers, orjson.dumps(event)))
    await response.write_eof()
    call.finished()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/model/{model_id}/invoke", invoke)
    app.router.add_post("/model/{model_id}/invoke-with-response-stream", invoke)
    app.router.add_post("/model/{model_id}/converse", converse)
    app.router.add_post("/model/{model_id}/converse-stream", converse)
