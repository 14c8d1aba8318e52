"""OpenAI chat clients reaching any Bedrock model through the Converse API: the request
translated to Converse (`/model/{id}/converse`, or `/converse-stream` whose AWS
event-stream frames `bedrock.EventStreamToSSE` turns into one SSE event per frame, named by
its event type), the answer and the stream translated back.

What translates: system, user and assistant text; `max_tokens` / `max_completion_tokens`,
`temperature`, `top_p`, `stop`; `stream` and `stream_options.include_usage`. Anything else
(`n`, `seed`, `response_format`, tools, images...) is refused with a 400 naming it. Converse's usage
(`inputTokens`, `outputTokens`, `cacheReadInputTokens`, `cacheWriteInputTokens`) is billed
as reported, the cache fields apart from the input, and shown in OpenAI's fields.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from billing.pricing import ModelPrice
from billing.tokens import TokenCounter
from billing.usage import MAX_USAGE_TOKENS, ToolRuns, Usage
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.gemini_translate import check_translatable, text_of
from gateway.llm.readers import read_chat

STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
PASSED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "user",
    }
)


def read_translated(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """The chat reader's sizing, once every field is one Converse carries (one choice, no
    seed, no JSON mode)."""
    check_translatable(body, PASSED, "Bedrock", "/v1/messages (Anthropic models)")
    return read_chat(body, price, counter)


def to_converse(body: Body) -> Body:
    """The Converse body of a chat request read by `gemini_translate.read_translated`."""
    system, messages = [], []
    for at, message in enumerate(body["messages"]):
        role, text = message.get("role"), text_of(message.get("content"), at)
        if role in ("system", "developer"):
            system.append({"text": text})
        else:
            role = "assistant" if role == "assistant" else "user"
            messages.append({"role": role, "content": [{"text": text}]})
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    for name, value in (
        ("maxTokens", limit),
        ("temperature", body.get("temperature")),
        ("topP", body.get("top_p")),
    ):
        if value is not None:
            config[name] = value
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    out: Body = {"messages": messages, "inferenceConfig": config}
    if system:
        out["system"] = system
    return out


def _count(raw: dict[str, Any], name: str, required: bool = False) -> int:
    value = raw.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_USAGE_TOKENS:
        raise ValueError(name)
    return value


def usage_from_converse(raw: object) -> Usage | None:
    """Converse's usage; None when malformed (then counted, never a made-up zero)."""
    if not isinstance(raw, dict):
        return None
    try:
        return Usage(
            input_tokens=_count(raw, "inputTokens", True),
            cached_input_tokens=_count(raw, "cacheReadInputTokens"),
            cache_write_tokens=_count(raw, "cacheWriteInputTokens"),
            output_tokens=_count(raw, "outputTokens", True),
        )
    except ValueError:
        return None


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


def answer_text(payload: Body) -> list[str]:
    output = payload.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return [
        b["text"] for b in content or () if isinstance(b, dict) and isinstance(b.get("text"), str)
    ]


def to_chat(payload: Body, model: str) -> Body:
    """A Converse answer as a chat.completion."""
    message = {"role": "assistant", "content": "".join(answer_text(payload))}
    finish = STOP.get(str(payload.get("stopReason")), "stop")
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _openai_usage(answer_usage(payload)),
    }


class ChatFromConverseTally:
    """ConverseStream's events (one SSE event per frame, named by its event type) read for
    text and usage, each forwarded as OpenAI chat chunks (`rewrite`): text deltas, the
    finish reason at `messageStop`, then at `metadata` (the usage, final) the usage chunk
    when asked for and `[DONE]`."""

    def __init__(self, client_wants_usage: bool) -> None:
        self.client_wants_usage = client_wants_usage
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.rewrite: bytes | None = None
        self.usage: Usage | None = None
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

    def _chunks(self, name: str | None, payload: dict[str, Any]) -> bytes:
        if name == "messageStart":
            return self._choice({"role": "assistant", "content": ""}, None)
        if name == "contentBlockDelta":
            delta = payload.get("delta")
            text = delta.get("text") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                self.text_parts.append(text)
                return self._choice({"content": text}, None)
            return b""
        if name == "messageStop":
            return self._choice({}, STOP.get(str(payload.get("stopReason")), "stop"))
        if name == "metadata":
            self.usage = usage_from_converse(payload.get("usage"))
            self.done = True
            tail = b""
            if self.client_wants_usage:
                usage = self.base | {"choices": [], "usage": _openai_usage(self.usage)}
                tail = b"data: " + orjson.dumps(usage) + b"\n\n"
            return tail + b"data: [DONE]\n\n"
        return b""
