"""A Converse answer and ConverseStream's events as OpenAI chat completions, for the chat
clients whose requests llm/converse/translate.py translated.

Text blocks become the message's content, `toolUse` blocks its `tool_calls` (the
`toolUseId` as the id, the input as a JSON string), stopReason `tool_use` the
finish_reason "tool_calls"; in a stream, a `contentBlockStart` of a toolUse opens a call
(id and name) and each `contentBlockDelta` of its input adds to its arguments. Converse's
usage (`inputTokens`, `outputTokens`, `cacheReadInputTokens`, `cacheWriteInputTokens`) is
billed as reported, the cache fields apart from the input, and shown in OpenAI's fields;
the writes `cacheDetails` gives a 1-hour TTL bill at the 1-hour write rate, as
genai-prices' aws extractor reads them.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from billing.metering.usage import MalformedUsage, ToolRuns, Usage, field_tokens
from gateway.llm.chat.tools import arguments_json, call_arguments, call_start, openai_call
from gateway.llm.endpoint import Body

STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def usage_from_converse(raw: object) -> Usage | None:
    """Converse's usage; None when malformed (then counted, never a made-up zero)."""
    if not isinstance(raw, dict):
        return None
    try:
        written = field_tokens(raw, "cacheWriteInputTokens")
        return Usage(
            input_tokens=field_tokens(raw, "inputTokens", required=True),
            cached_input_tokens=field_tokens(raw, "cacheReadInputTokens"),
            cache_write_tokens=written,
            output_tokens=field_tokens(raw, "outputTokens", required=True),
            extra=_hour_writes(raw.get("cacheDetails"), written),
        )
    except MalformedUsage:
        return None


def _hour_writes(details: object, written: int) -> tuple[tuple[str, int], ...]:
    """The part of the cache writes `cacheDetails` (writes by TTL) gives a 1-hour TTL,
    never above the writes reported."""
    if details is None:
        return ()
    if not isinstance(details, list):
        raise MalformedUsage(details)
    hour = 0
    for item in details:
        if not isinstance(item, dict):
            raise MalformedUsage(item)
        if item.get("ttl") == "1h":
            hour += field_tokens(item, "inputTokens")
    hour = min(hour, written)
    return (("cache_write_1h_tokens", hour),) if hour else ()


def answer_usage(payload: Body) -> Usage | None:
    return usage_from_converse(payload.get("usage"))


def _openai_usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    prompt = usage.total_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def _blocks(payload: Body) -> list[dict[str, Any]]:
    output = payload.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _uses(payload: Body) -> list[dict[str, Any]]:
    found = [b.get("toolUse") for b in _blocks(payload)]
    return [u for u in found if isinstance(u, dict) and isinstance(u.get("name"), str)]


def answer_text(payload: Body) -> list[str]:
    """The answer's text and tool calls, for counting when Converse reports no usage."""
    texts = [b["text"] for b in _blocks(payload) if isinstance(b.get("text"), str)]
    return texts + [u["name"] + arguments_json(u.get("input")) for u in _uses(payload)]


def to_chat(payload: Body, model: str) -> Body:
    """A Converse answer as a chat.completion."""
    calls = [
        openai_call(str(u.get("toolUseId")), u["name"], arguments_json(u.get("input")))
        for u in _uses(payload)
    ]
    text = "".join(b["text"] for b in _blocks(payload) if isinstance(b.get("text"), str))
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    finish = STOP.get(str(payload.get("stopReason")), "stop")
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _openai_usage(answer_usage(payload)),
    }


def _block(payload: dict[str, Any]) -> str:
    """The event's content block, as a key (whatever a provider sends there)."""
    return repr(payload.get("contentBlockIndex"))


class ChatFromConverseTally:
    """ConverseStream's events (one SSE event per frame, named by its event type) read for
    text, tool calls and usage, each forwarded as OpenAI chat chunks (`rewrite`): text and
    tool call deltas, the finish reason at `messageStop`, then at `metadata` (the usage,
    final) the usage chunk when asked for and `[DONE]`."""

    def __init__(self, client_wants_usage: bool) -> None:
        self.client_wants_usage = client_wants_usage
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.rewrite: bytes | None = None
        self.usage: Usage | None = None
        self.calls: dict[str, int] = {}  # the OpenAI index of each toolUse block
        self.finish: tuple[str, ...] = ()
        self.base = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "",
        }

    tool_runs: ToolRuns = ()
    stored_id: str | None = None

    def reported(self) -> Usage | None:
        return self.usage

    def finish_reasons(self) -> tuple[str, ...]:
        """messageStop's stopReason, in the OpenAI word the client's chunk carries (as a
        plain answer's `finish_reason` does)."""
        return self.finish

    @property
    def usage_final(self) -> bool:
        return self.usage is not None

    def feed(self, event: Any) -> bool:
        self.rewrite = None
        if not event.data:
            return True
        try:
            payload = orjson.loads(event.data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.malformed = True
            return True
        if event.event == "error":  # an exception frame, as Anthropic's error event
            self.error = payload.get("error") or {"message": "Bedrock stream error"}
            return True
        self.rewrite = self._chunks(event.event, payload)
        return True

    def _choice(self, delta: dict[str, Any], finish: str | None) -> bytes:
        chunk = self.base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _start(self, payload: dict[str, Any]) -> bytes:
        start = payload.get("start")
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict) or not isinstance(use.get("name"), str):
            return b""
        index = self.calls[_block(payload)] = len(self.calls)
        self.text_parts.append(use["name"])
        return self._choice(call_start(index, str(use.get("toolUseId")), use["name"]), None)

    def _delta(self, payload: dict[str, Any]) -> bytes:
        delta = payload.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        text, use = delta.get("text"), delta.get("toolUse")
        if isinstance(text, str) and text:
            self.text_parts.append(text)
            return self._choice({"content": text}, None)
        piece = use.get("input") if isinstance(use, dict) else None
        index = self.calls.get(_block(payload))
        if isinstance(piece, str) and piece and index is not None:
            self.text_parts.append(piece)
            return self._choice(call_arguments(index, piece), None)
        return b""

    def _end(self, payload: dict[str, Any]) -> bytes:
        self.usage = usage_from_converse(payload.get("usage"))
        self.done = True
        tail = b""
        if self.client_wants_usage:
            usage = self.base | {"choices": [], "usage": _openai_usage(self.usage)}
            tail = b"data: " + orjson.dumps(usage) + b"\n\n"
        return tail + b"data: [DONE]\n\n"

    def _chunks(self, name: str | None, payload: dict[str, Any]) -> bytes:
        if name == "messageStart":
            return self._choice({"role": "assistant", "content": ""}, None)
        if name == "contentBlockStart":
            return self._start(payload)
        if name == "contentBlockDelta":
            return self._delta(payload)
        if name == "messageStop":
            reason = STOP.get(str(payload.get("stopReason")), "stop")
            self.finish = (reason,)
            return self._choice({}, reason)
        if name == "metadata":
            return self._end(payload)
        return b""
