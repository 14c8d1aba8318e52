"""MCP's Streamable HTTP messages, pure: one JSON-RPC message per POST, answered with JSON or
with an SSE stream whose events carry JSON-RPC messages (progress notifications, then the
response). The gateway reads the response to a `tools/call` to bill it and the one to a
`tools/list` to filter it; every other byte is passed on as it came.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.llm.scrub import ClientScrubber
from gateway.llm.sse import SSEEvent, SSEParser

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REFUSED = -32000  # the gateway refused the call: data carries the HTTP error's status and body
SSE = "text/event-stream"
Message = dict[str, Any]


class WireError(ValueError):
    """A body that is not one JSON-RPC message; answered as a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_message(raw: bytes) -> Message:
    """One JSON-RPC message. A batch (an array) is refused: MCP 2025-06-18 removed them, and a
    batch would let one POST carry many tool calls under one hold."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireError(PARSE_ERROR, "The body is not JSON.") from exc
    if isinstance(message, list):
        raise WireError(INVALID_REQUEST, "JSON-RPC batches are not accepted: send one message.")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise WireError(INVALID_REQUEST, "The body is not a JSON-RPC 2.0 message.")
    return message


def error(message_id: object, code: int, text: str, data: Mapping[str, Any] | None = None) -> bytes:
    body: Message = {"code": code, "message": text}
    if data is not None:
        body["data"] = dict(data)
    return orjson.dumps({"jsonrpc": "2.0", "id": message_id, "error": body})


def _events(body: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    return parser.feed(body) + parser.flush()


def _json(text: str | bytes) -> Message | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _is_answer(message: Message | None, message_id: object) -> bool:
    return (
        message is not None
        and message.get("id") == message_id
        and ("result" in message or "error" in message)
    )


def response_to(content_type: str, body: bytes, message_id: object) -> Message | None:
    """The JSON-RPC response to `message_id` in an answer (JSON or SSE), or None."""
    if content_type.startswith(SSE):
        for event in _events(body):
            message = _json(event.data) if event.data else None
            if _is_answer(message, message_id):
                return message
        return None
    message = _json(body)
    return message if _is_answer(message, message_id) else None


def rewrite_response(
    content_type: str, body: bytes, message_id: object, change: Callable[[Message], Message]
) -> bytes:
    """The answer with the response to `message_id` replaced by `change(response)`; every
    other event is kept byte for byte."""
    if not content_type.startswith(SSE):
        message = _json(body)
        if message is None or not _is_answer(message, message_id):
            return body
        return orjson.dumps(change(message))
    out = []
    for event in _events(body):
        message = _json(event.data) if event.data else None
        if message is not None and _is_answer(message, message_id):
            out.append(b"event: message\ndata: " + orjson.dumps(change(message)) + b"\n\n")
        else:
            out.append(event.raw)
    return b"".join(out)


def billed_result(response: Message | None) -> Mapping[str, Any] | None:
    """The result of a tool call that is billed, or None: no response, a JSON-RPC error, a
    result flagged `isError` (the tool failed) or one that is not the call's end (2026-07-28's
    `resultType` other than "complete", e.g. "input_required": the client calls again, and
    that call is billed) is not billed."""
    if response is None or "error" in response:
        return None
    result = response.get("result")
    if not isinstance(result, dict) or result.get("isError") is True:
        return None
    return result if result.get("resultType", "complete") == "complete" else None


def _failed(response: Message) -> bool:
    result = response.get("result")
    return "error" in response or (isinstance(result, dict) and result.get("isError") is True)


def scrubbed(
    content_type: str, body: bytes, message_id: object, ok: bool, scrubber: ClientScrubber
) -> bytes:
    """An answer as a client may read it. What says something failed (a status that is
    not success, a JSON-RPC error, a tool's `isError` result) passes the whole scrubber, as
    a provider's error does; every other byte loses the operator's secrets only (a tool's
    result is the client's, and the scrubber's patterns could spoil it)."""
    if not ok:
        return scrubber.text(body.decode("utf-8", "replace")).encode()
    response = response_to(content_type, body, message_id) if message_id is not None else None
    if response is not None and _failed(response):

        def scrub(message: Message) -> Message:
            cleaned: Message = orjson.loads(scrubber.text(orjson.dumps(message).decode()))
            return cleaned

        body = rewrite_response(content_type, body, message_id, scrub)
    return scrubber.secrets_out(body.decode("utf-8", "replace")).encode()
