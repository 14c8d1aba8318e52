"""Anthropic's Messages wire format as the official SDK parses it: pure builders only.

The stream follows the real event order: message_start (input and cache usage, output 1),
content_block_start, ping, text deltas, content_block_stop, message_delta (stop reason and
the final output_tokens), message_stop. Each event has both an `event:` line and a `type`.
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.devtools.demo_upstream.control import JSON, Behaviour
from gateway.devtools.demo_upstream.frames import Frame
from gateway.devtools.demo_upstream.text import Reply

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
MODELS_CREATED_AT = "2025-01-01T00:00:00Z"


def error_body(status: int, message: str) -> JSON:
    """Anthropic's error envelope."""
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_frame() -> Frame:
    """The in-stream `error` event (what Anthropic sends when it is overloaded mid-stream)."""
    return Frame.of(error_body(529, "Overloaded"), event="error")


def usage(behaviour: Behaviour, reply: Reply) -> JSON:
    """The four usage fields, with any `behaviour.usage` fields laid over the counted ones."""
    counted = {
        "input_tokens": reply.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": reply.completion_tokens,
    }
    return {**counted, **(behaviour.usage or {})}


def stop_reason(reply: Reply) -> str:
    return "max_tokens" if reply.truncated else "end_turn"


def new_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def message(msg_id: str, model: str, reply: Reply, usage_obj: JSON) -> JSON:
    """A complete `message` object."""
    content = [{"type": "text", "text": reply.text}]
    return _message(msg_id, model, content, stop_reason(reply), usage_obj)


def _message(
    msg_id: str, model: str, content: list[JSON], stop: str | None, usage_obj: JSON
) -> JSON:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_obj,
    }


def _event(obj: JSON, content: bool = False) -> Frame:
    return Frame.of(obj, event=str(obj["type"]), content=content)


def message_frames(
    msg_id: str, model: str, reply: Reply, pieces: list[str], usage_obj: JSON
) -> list[Frame]:
    """The full event sequence of one streamed text reply."""
    start = _message(msg_id, model, [], None, {**usage_obj, "output_tokens": 1})
    deltas = [
        _event(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            content=True,
        )
        for p in pieces
    ]
    return [
        _event({"type": "message_start", "message": start}),
        _event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        _event({"type": "ping"}),
        *deltas,
        _event({"type": "content_block_stop", "index": 0}),
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": usage_obj["output_tokens"]},
            }
        ),
        _event({"type": "message_stop"}),
    ]


def models(names: tuple[str, ...]) -> JSON:
    """Anthropic's paginated /v1/models page (all on one page)."""
    data: list[dict[str, Any]] = [
        {
            "type": "model",
            "id": n,
            "display_name": n,
            "created_at": MODELS_CREATED_AT,
            "lifecycle": "active",
        }
        for n in names
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }
