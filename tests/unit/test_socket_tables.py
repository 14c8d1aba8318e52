"""The Realtime client events and the MCP methods are data (llm/realtime_events.py,
mcp/methods.py): each names the scope or action it needs, a type or method without an
entry is refused, and MCP's answers pass the one scrubber."""

from __future__ import annotations

import orjson
import pytest

from billing.authority import ACTIONS, may_reach_server
from gateway.llm.endpoints import REALTIME
from gateway.llm.realtime_events import (
    REALTIME_CLIENT_EVENTS,
    REALTIME_EVENT_ACTIONS,
    client_event,
)
from gateway.llm.scrub import ClientScrubber
from gateway.mcp import wire
from gateway.mcp.methods import MCP_METHOD_ACTIONS, MCP_METHODS, method_entry, offered


def test_every_realtime_client_event_needs_the_realtime_scope_and_names_its_action() -> None:
    assert set(REALTIME_CLIENT_EVENTS.values()) == {REALTIME.scope}
    assert "response.create" in REALTIME_CLIENT_EVENTS
    assert set(REALTIME_EVENT_ACTIONS) == set(REALTIME_CLIENT_EVENTS)
    assert all(action in ACTIONS for action in REALTIME_EVENT_ACTIONS.values())


@pytest.mark.parametrize(
    "frame", ["", "nope", "[]", "null", '{"type": 1}', '{"type": "session.delete"}']
)
def test_a_frame_without_an_entry_is_no_event(frame: str) -> None:
    event, why, _ = client_event(frame)
    assert event is None and why


def test_a_refused_frame_still_names_its_event_id() -> None:
    assert client_event('{"type": "session.delete", "event_id": "ev_1"}')[2] == "ev_1"
    event, _, event_id = client_event('{"type": "response.cancel", "event_id": "ev_2"}')
    assert event == {"type": "response.cancel", "event_id": "ev_2"} and event_id == "ev_2"


def test_only_tools_call_is_priced_and_every_method_names_its_action() -> None:
    assert [m for m, e in MCP_METHODS.items() if e.charge == "priced"] == ["tools/call"]
    assert MCP_METHODS["tools/call"].reach == "tool"
    assert MCP_METHODS["resources/read"].charge == "refused"
    assert MCP_METHODS["prompts/get"].charge == "refused"
    assert set(MCP_METHOD_ACTIONS) == set(MCP_METHODS)
    assert all(action in ACTIONS for action in MCP_METHOD_ACTIONS.values())
    assert method_entry("x/unknown") is None and method_entry(7) is None
    assert offered({"tools": {}, "resources": {}, "prompts": {}, "logging": {}}) == {"tools": {}}


@pytest.mark.parametrize(
    ("scopes", "reaches"),
    [
        ((), True),
        (("mcp",), True),
        (("mcp:tools",), True),
        (("mcp:tools:search",), True),
        (("mcp:toolsx",), False),
        (("mcp:other:search",), False),
        (("chat", "realtime"), False),
    ],
)
def test_a_key_reaches_a_server_by_any_of_its_mcp_scopes(
    scopes: tuple[str, ...], reaches: bool
) -> None:
    assert may_reach_server(scopes, "tools") is reaches


SCRUBBER = ClientScrubber(("Bearer mcp-secret-123", "mcp-secret-123"), frozenset({"mcp.corp"}))


def test_a_failed_answer_passes_the_whole_scrubber_a_result_the_secrets_only() -> None:
    url = "http://10.0.0.9/internal"
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": f"mcp-secret-123 {url}"}}
    out = wire.scrubbed("application/json", orjson.dumps(error), 1, True, SCRUBBER).decode()
    assert "mcp-secret-123" not in out and url not in out and orjson.loads(out)["error"]
    result = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"text": f"mcp-secret-123 {url}"}]}}
    out = wire.scrubbed("application/json", orjson.dumps(result), 1, True, SCRUBBER).decode()
    assert "mcp-secret-123" not in out and url in out  # a tool's result is the client's
    out = wire.scrubbed("text/html", f"<p>{url}</p>".encode(), None, False, SCRUBBER).decode()
    assert url not in out
