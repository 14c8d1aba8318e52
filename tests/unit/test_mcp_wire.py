"""MCP's Streamable HTTP answers read and rewritten as bytes, and session ids bound to keys."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pytest

from gateway.mcp import wire
from gateway.mcp.sessions import bind, session_secret, unbind

PROGRESS = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}
RESULT = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "structuredContent": {"n": 2}}}


def _sse(*messages: Mapping[str, object]) -> bytes:
    return b"".join(b"event: message\r\ndata: " + orjson.dumps(m) + b"\r\n\r\n" for m in messages)


@pytest.mark.parametrize("cut", [1, 9, 40, 77])
def test_the_response_is_found_in_an_sse_answer_after_notifications(cut: int) -> None:
    body = b": ping\n\n" + _sse(PROGRESS, RESULT)
    assert wire.response_to("text/event-stream; charset=utf-8", body, 7) == RESULT
    assert wire.response_to("text/event-stream", body, 8) is None
    assert wire.response_to("text/event-stream", body[:cut], 7) is None


def test_the_response_is_read_from_a_json_answer() -> None:
    assert wire.response_to("application/json", orjson.dumps(RESULT), 7) == RESULT
    assert wire.response_to("application/json", orjson.dumps(PROGRESS), 7) is None
    assert wire.response_to("application/json", b"not json", 7) is None


def test_a_rewrite_changes_the_response_and_keeps_every_other_event() -> None:
    body = _sse(PROGRESS, RESULT)

    def empty(message: wire.Message) -> wire.Message:
        return {**message, "result": {"tools": []}}

    out = wire.rewrite_response("text/event-stream", body, 7, empty)
    assert out.startswith(_sse(PROGRESS))
    assert wire.response_to("text/event-stream", out, 7) == {**RESULT, "result": {"tools": []}}
    json_out = wire.rewrite_response("application/json", orjson.dumps(RESULT), 7, empty)
    assert orjson.loads(json_out)["result"] == {"tools": []}
    assert wire.rewrite_response("application/json", b"[]", 7, empty) == b"[]"


def test_only_a_result_that_is_not_an_error_is_billed() -> None:
    assert wire.billed_result(RESULT) == RESULT["result"]
    assert wire.billed_result(None) is None
    assert wire.billed_result({"jsonrpc": "2.0", "id": 7, "error": {"code": -1}}) is None
    flagged = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "isError": True}}
    assert wire.billed_result(flagged) is None
    assert wire.billed_result({"jsonrpc": "2.0", "id": 7, "result": []}) is None
    done = {"jsonrpc": "2.0", "id": 7, "result": {"content": [], "resultType": "complete"}}
    assert wire.billed_result(done) == done["result"]
    asking = {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "input_required"}}
    assert wire.billed_result(asking) is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{", wire.PARSE_ERROR),
        (b"[]", wire.INVALID_REQUEST),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}]', wire.INVALID_REQUEST),
        (b'{"id": 1, "method": "tools/call"}', wire.INVALID_REQUEST),
        (b'"2.0"', wire.INVALID_REQUEST),
    ],
)
def test_a_body_that_is_not_one_json_rpc_message_is_refused(raw: bytes, code: int) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.read_message(raw)
    assert caught.value.code == code


def test_a_session_id_works_only_for_the_key_it_was_handed_to() -> None:
    secret = session_secret("0123456789abcdef-secret")
    client = bind(secret, "key_a", "upstream-1")
    assert client.startswith("upstream-1.") and unbind(secret, "key_a", client) == "upstream-1"
    assert unbind(secret, "key_b", client) is None
    assert unbind(secret, "key_a", "upstream-1") is None
    assert unbind(secret, "key_a", "upstream-2." + client.rpartition(".")[2]) is None
    assert unbind(session_secret("another-admin-key-000"), "key_a", client) is None
