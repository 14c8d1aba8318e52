"""AWS Bedrock: the Converse API (`/model/{modelId}/converse`, and `/converse-stream` in
event-stream frames named by event type) and InvokeModel for Anthropic models
(`/model/{modelId}/invoke` answers Anthropic's JSON, `/invoke-with-response-stream` the same
stream events in AWS's binary event-stream framing, each a `chunk` message whose JSON
payload carries the Anthropic event base64-encoded in `bytes`, the last with Bedrock's
invocation metrics).

Like Bedrock, InvokeModel wants `anthropic_version` in the body and no `model`, and every
route refuses a request that is not SigV4-signed (403). It does not check the signature
itself: tests verify the recorded request with botocore's own signer, as AWS would.

Converse's tool use as Bedrock has it: `toolConfig.tools[].toolSpec`, `toolChoice` auto,
any or tool; calls answer as `toolUse` blocks with stopReason `tool_use` (in a stream, a
`contentBlockStart` naming each, then its input in `contentBlockDelta` pieces). Like
Bedrock it refuses (400) toolUse or toolResult blocks without a toolConfig, roles that do
not alternate, and a toolResult answering no toolUse of the turn before.
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import zlib
from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call, ProviderError, open_call
from gateway.devtools.demo_upstream.text import (
    last_user_text,
    max_tokens_of,
    plan_reply,
    prompt_text,
    split_chunks,
)
from gateway.devtools.demo_upstream.tool_calls import Asked, planned_calls
from gateway.devtools.demo_upstream.wires import anthropic as wire

TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")


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


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = body.get("messages")
    return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    found = (
        [b.get(kind) for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    )
    return [b for b in found if isinstance(b, dict)]


def _converse_text(body: dict[str, Any]) -> tuple[str, str]:
    """The prompt (tool specs, calls and results included) and its last text."""
    texts = [orjson.dumps(body["toolConfig"]).decode()] if body.get("toolConfig") else []
    for message in _messages(body):
        for block in message.get("content") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                texts.append(block["text"])
        texts += [orjson.dumps(u).decode() for u in _blocks(message, "toolUse")]
        for result in _blocks(message, "toolResult"):
            texts += [c["text"] for c in result.get("content") or () if "text" in c]
    return " ".join(texts), texts[-1] if texts else ""


def _bad(message: str) -> ProviderError:
    return ProviderError(400, error_body(400, message))


def _check_tools(body: dict[str, Any]) -> None:
    """What Bedrock's validation refuses in a conversation with tools."""
    messages, used = _messages(body), set[str]()
    for at, message in enumerate(messages):
        if at and message.get("role") == messages[at - 1].get("role"):
            raise _bad("A conversation must alternate between user and assistant roles.")
        results = {str(r.get("toolUseId")) for r in _blocks(message, "toolResult")}
        if results and not results <= used:
            raise _bad(f"The toolResult blocks at messages.{at}.content answer no toolUse.")
        used = {str(u.get("toolUseId")) for u in _blocks(message, "toolUse")}
        if (results or used) and not body.get("toolConfig"):
            raise _bad("The toolConfig field must be defined when using toolUse and toolResult.")
        if not all(TOOL_USE_ID.fullmatch(i) for i in used | results):
            raise _bad(f"messages.{at}.content: toolUseId does not match {TOOL_USE_ID.pattern}")


def _asked(body: dict[str, Any]) -> Asked:
    found = body.get("toolConfig")
    config: dict[str, Any] = found if isinstance(found, dict) else {}
    specs = [t.get("toolSpec") or {} for t in config.get("tools") or () if isinstance(t, dict)]
    choice = config.get("toolChoice") or {}
    only = (choice.get("tool") or {}).get("name")
    messages = _messages(body)
    return Asked(
        tuple(str(s.get("name")) for s in specs),
        required="any" in choice or only is not None,
        allowed=(only,) if only else (),
        answering=bool(messages and _blocks(messages[-1], "toolResult")),
    )


def _tool_uses(call: Call) -> list[dict[str, Any]]:
    planned = planned_calls(_asked(call.body), call.behaviour.tool_calls)
    return [
        {
            "toolUseId": "tooluse_" + secrets.token_urlsafe(16).replace("-", "x"),
            "name": c.get("name"),
            "input": c.get("arguments") or {},
        }
        for c in planned
    ]


def _stream_events(text: str, uses: list[dict[str, Any]], chunks: int) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = [("messageStart", {"role": "assistant"})]
    for piece in split_chunks(text, chunks):
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
    for at, use in enumerate(uses):
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        events.append(("contentBlockStart", {"contentBlockIndex": at, "start": start}))
        raw = orjson.dumps(use["input"]).decode()
        for piece in split_chunks(raw, 2):
            delta = {"toolUse": {"input": piece}}
            events.append(("contentBlockDelta", {"contentBlockIndex": at, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": at}))
    if not uses:
        events.append(("contentBlockStop", {"contentBlockIndex": 0}))
    return events


async def converse(request: web.Request) -> web.StreamResponse:
    """Converse and ConverseStream: any model, Bedrock's own message shape."""
    _checked(request)
    call = await open_call(request, error_body)
    if "model" in call.body or not isinstance(call.body.get("messages"), list):
        raise ProviderError(400, error_body(400, "Malformed input request"))
    _check_tools(call.body)
    config = call.body.get("inferenceConfig") or {}
    budget = config.get("maxTokens") if isinstance(config, dict) else None
    prompt, last = _converse_text(call.body)
    uses = _tool_uses(call)
    if uses:
        reply = plan_reply(prompt, orjson.dumps(uses).decode(), None, call.control.counter)
        reply = replace(reply, text="")
    else:
        reply = call.reply(prompt, last, budget if isinstance(budget, int) else None)
    usage = _converse_usage(call, reply.prompt_tokens, reply.completion_tokens)
    stop = "tool_use" if uses else "end_turn"
    if not request.path.endswith("/converse-stream"):
        call.finished()
        content: list[dict[str, Any]] = [{"toolUse": u} for u in uses]
        message = {"role": "assistant", "content": content or [{"text": reply.text}]}
        return web.json_response(
            {"output": {"message": message}, "stopReason": stop, "usage": usage}
        )
    response = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
    await response.prepare(request)
    events = _stream_events(reply.text, uses, call.behaviour.chunks)
    events += [
        ("messageStop", {"stopReason": stop}),
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
