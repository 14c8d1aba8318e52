# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""What a streamed response contained, read one SSE event at a time.

The gateway bills from the provider's usage when the stream carries it, and otherwise from
the text it saw (counted once at the end, since BPE merges across chunks). A tally never
raises on what a provider sends: a malformed event is flagged, and the relay decides (it
stops there and ends the client's stream with a well-formed error event).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from billing.metering.stated_cost import with_stated_cost
from billing.metering.usage import (
    ToolRuns,
    Usage,
    usage_from_anthropic,
    usage_from_openai,
    with_tier,
)

_ANTHROPIC_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "server_tool_use",
    "service_tier",
)
_ANTHROPIC_DELTA_TEXT = {
    "text_delta": "text",
    "thinking_delta": "thinking",
    "input_json_delta": "partial_json",
}


class StreamEvent(Protocol):
    """What a tally reads from an event (gateway.llm.sse.SSEEvent fits): no gateway import."""

    @property
    def event(self) -> str | None: ...

    @property
    def data(self) -> str: ...


def event_object(event: StreamEvent) -> dict[str, Any] | None:
    """The event's data as a JSON object, or None when it is anything else (a malformed
    event to the tallies that read objects)."""
    try:
        body = orjson.loads(event.data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class StreamTally(Protocol):
    """What the relay needs from any wire format's tally, so it never asks which one it has.

    `reported()` is the provider's usage seen so far (None: none yet); `usage_final` says it
    already holds the final output count, else the relay counts the delivered text instead.
    """

    text_parts: list[str]
    done: bool
    error: dict[str, Any] | None
    malformed: bool
    rewrite: bytes | None  # set by feed: forward these bytes instead of the event's own
    stored_id: str | None  # an object the stream created (a Responses API response)

    def feed(self, event: StreamEvent) -> bool: ...

    def reported(self) -> Usage | None: ...

    def finish_reasons(self) -> tuple[str, ...]:
        """Why the model stopped, as the stream said (OpenTelemetry's
        `gen_ai.response.finish_reasons`), read where the stream's end is read anyway."""
        ...

    @property
    def usage_final(self) -> bool: ...

    @property
    def tool_runs(self) -> ToolRuns:
        """Built-in tool runs seen so far, billed even when the stream is cut."""
        ...


def _parse_object(data: str) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _error_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"message": str(value)}


def _append_str(parts: list[str], value: object) -> None:
    if isinstance(value, str) and value:
        parts.append(value)


def _carries_something(choice: object) -> bool:
    """A choice with text, a tool call, a finish reason or logprobs must reach the client."""
    if not isinstance(choice, dict):
        return True
    if choice.get("finish_reason") is not None or choice.get("logprobs") is not None:
        return True
    delta = choice.get("delta")
    return bool(choice.get("text")) or (isinstance(delta, dict) and any(delta.values()))


class OpenAIStreamTally:
    """Chat and legacy completion streams.

    The gateway always asks the provider for `stream_options.include_usage`; a client that
    did not ask must not receive the extra usage-only chunk, so `feed` says to hide it. Some
    providers (LiteLLM) put the usage on a chunk that also has choices: that chunk is hidden
    when its choices carry nothing, else forwarded rewritten without its `usage`.
    `reasoning_apart`: the provider counts reasoning outside `completion_tokens` (xAI).
    """

    def __init__(self, client_wants_usage: bool, reasoning_apart: bool = False) -> None:
        self.client_wants_usage = client_wants_usage
        self.reasoning_apart = reasoning_apart
        self.rewrite: bytes | None = None
        self.usage: Usage | None = None
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.chunks_seen = 0
        self.finish: list[str] = []  # each choice's finish_reason, as its last chunk gives it

    def feed(self, event: StreamEvent) -> bool:
        """True if the event should be forwarded to the client (as `rewrite` when that is set)."""
        self.rewrite = None
        data = event.data
        if not data:
            return True
        if data[0] != "{" and data.strip() == "[DONE]":
            self.done = True
            return True
        chunk = _parse_object(data)
        if chunk is None:
            self.malformed = True
            return True
        self.chunks_seen += 1
        return self._take_chunk(chunk)

    def text(self) -> str:
        return "".join(self.text_parts)

    def reported(self) -> Usage | None:
        return self.usage

    def finish_reasons(self) -> tuple[str, ...]:
        return tuple(self.finish)

    tool_runs: ToolRuns = ()
    stored_id: str | None = None

    @property
    def usage_final(self) -> bool:
        """The usage chunk comes once, after the last choice: when seen, it is final."""
        return self.usage is not None

    def _take_chunk(self, chunk: dict[str, Any]) -> bool:
        if chunk.get("error") is not None:
            self.error = _error_dict(chunk["error"])
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                self._take_choice(choice)
        usage = chunk.get("usage")
        if not isinstance(usage, dict):
            return True
        read = usage_from_openai(usage, reasoning_apart=self.reasoning_apart)
        # The cost an OpenAI-compatible upstream states, kept for the drift check, never billed
        self.usage = with_tier(with_stated_cost(read, usage), chunk.get("service_tier"))
        if self.client_wants_usage or not isinstance(choices, list) or not choices:
            return self.client_wants_usage
        if not any(_carries_something(c) for c in choices):
            return False
        rest = {k: v for k, v in chunk.items() if k != "usage"}
        self.rewrite = b"data: " + orjson.dumps(rest) + b"\n\n"
        return True

    def _take_choice(self, choice: object) -> None:
        if not isinstance(choice, dict):
            return
        reason = choice.get("finish_reason")
        if reason:  # once per choice, on its last chunk
            self.finish.append(str(reason))
        _append_str(self.text_parts, choice.get("text"))
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        parts = self.text_parts
        _append_str(parts, delta.get("content"))
        reasoning = delta.get("reasoning_content")
        _append_str(parts, reasoning if reasoning is not None else delta.get("reasoning"))
        _append_str(parts, delta.get("refusal"))
        self._take_function(delta.get("function_call"))
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, list):
            for call in tool_calls:
                self._take_function(call.get("function") if isinstance(call, dict) else None)

    def _take_function(self, function: object) -> None:
        if isinstance(function, dict):
            _append_str(self.text_parts, function.get("name"))
            _append_str(self.text_parts, function.get("arguments"))


class AnthropicStreamTally:
    """Messages streams: usage starts in message_start and grows in message_delta."""

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.chunks_seen = 0
        self.output_final = False
        self.rewrite: bytes | None = None
        self._usage: dict[str, object] | None = None
        self.stop_reason = ""  # message_delta's, beside its usage

    def feed(self, event: StreamEvent) -> bool:
        """Always True: nothing in an Anthropic stream is hidden from the client."""
        if event.data and event.event != "ping":
            body = _parse_object(event.data)
            if body is None:
                self.malformed = True
            else:
                self.chunks_seen += 1
                self._take(body.get("type", event.event), body)
        return True

    def usage(self) -> Usage | None:
        """None until message_start: without it the input side is unknown."""
        return None if self._usage is None else usage_from_anthropic(self._usage)

    def text(self) -> str:
        return "".join(self.text_parts)

    def reported(self) -> Usage | None:
        return self.usage()

    def finish_reasons(self) -> tuple[str, ...]:
        return (self.stop_reason,) if self.stop_reason else ()

    tool_runs: ToolRuns = ()
    stored_id: str | None = None

    @property
    def usage_final(self) -> bool:
        """message_delta carries the cumulative output count; before it only input is known."""
        return self.output_final

    def _take(self, kind: object, body: dict[str, Any]) -> None:
        if kind == "content_block_delta":
            self._take_delta(body.get("delta"))
        elif kind == "content_block_start":
            self._take_block_start(body.get("content_block"))
        elif kind == "message_start":
            self._take_message_start(body.get("message"))
        elif kind == "message_delta":
            self._take_message_delta(body.get("usage"))
            delta = body.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self.error = _error_dict(body.get("error"))

    def _take_message_start(self, message: object) -> None:
        self._usage = {}
        if isinstance(message, dict):
            self._merge_usage(message.get("usage"))

    def _take_message_delta(self, usage: object) -> None:
        """output_tokens here is cumulative; newer API versions repeat the input fields too."""
        if isinstance(usage, dict) and self._usage is not None:
            self._merge_usage(usage)
            self.output_final = True

    def _merge_usage(self, usage: object) -> None:
        if isinstance(usage, dict) and self._usage is not None:
            for field in _ANTHROPIC_USAGE_FIELDS:
                if usage.get(field) is not None:
                    self._usage[field] = usage[field]

    def _take_delta(self, delta: object) -> None:
        if isinstance(delta, dict):
            field = _ANTHROPIC_DELTA_TEXT.get(str(delta.get("type")))
            if field is not None:
                _append_str(self.text_parts, delta.get(field))

    def _take_block_start(self, block: object) -> None:
        if isinstance(block, dict):
            _append_str(self.text_parts, block.get("text"))
            _append_str(self.text_parts, block.get("thinking"))
            if block.get("type") in ("tool_use", "server_tool_use"):
                _append_str(self.text_parts, block.get("name"))
