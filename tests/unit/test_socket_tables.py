"""The Realtime client events and the MCP methods are data (llm/reading/realtime_events.py,
mcp/methods.py): each names the scope or action it needs, a type or method without an
entry is refused, and MCP's answers pass the one scrubber."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from billing.authority import (
    ACTIONS,
    MCP_SERVER,
    MCP_TOOL,
    NOT_OFFERED,
    REALTIME_EVENT,
    may_call_tool,
    may_reach_server,
    may_send,
    message_actions,
)
from gateway.app import create_app
from gateway.http.route_actions import message_table, records
from gateway.llm.endpoints import REALTIME
from gateway.llm.reading.realtime_events import REALTIME_CLIENT_EVENTS, client_event
from gateway.llm.scrub import ClientScrubber
from gateway.mcp import wire
from gateway.mcp.methods import MCP_METHOD_ACTIONS, MCP_METHODS, McpMethod, method_entry, offered
from tests.support.harness import gateway_settings


def test_every_realtime_client_event_needs_the_realtime_scope_and_names_its_action() -> None:
    assert {a.scope for a in REALTIME_CLIENT_EVENTS.values()} == {REALTIME.scope}
    assert "response.create" in REALTIME_CLIENT_EVENTS
    assert all(ACTIONS[a.name] is a for a in REALTIME_CLIENT_EVENTS.values())


def test_a_message_table_refuses_an_entry_without_an_action() -> None:
    """Issue 56: a Realtime event type or MCP method cannot be declared without its action:
    the table (made at import) and the method's record refuse it."""
    scope: Any = "realtime"
    with pytest.raises(TypeError, match=r"session\.update"):
        message_actions({"session.update": scope})
    with pytest.raises(TypeError, match="action"):
        McpMethod(scope, "free")
    with pytest.raises(TypeError, match="NOT_OFFERED"):
        McpMethod(MCP_SERVER, "refused")
    with pytest.raises(TypeError, match="NOT_OFFERED"):
        McpMethod(NOT_OFFERED, "free")
    with pytest.raises(TypeError):
        REALTIME_CLIENT_EVENTS["x.y"] = REALTIME_EVENT  # type: ignore[index]


def test_the_routes_declare_the_tables_themselves() -> None:
    """The route records carry the one table each, not a copy: the printout, the reference
    and the matrix read what the relay and the MCP route obey."""
    settings = gateway_settings("postgresql://nobody@127.0.0.1/none", "http://127.0.0.1:1", "p")
    app = create_app(settings)
    found = records(app)
    assert found["GET", "/v1/realtime"].messages is REALTIME_CLIENT_EVENTS
    assert found["POST", "/mcp/{server}"].messages is MCP_METHOD_ACTIONS
    rows = message_table(app)
    assert {n for (_, p, n) in rows if p == "/v1/realtime"} == set(REALTIME_CLIENT_EVENTS)
    assert {n for (_, p, n) in rows if p == "/mcp/{server}"} == set(MCP_METHODS)


@pytest.mark.parametrize(
    ("scopes", "server", "tool"),
    [
        ((), True, True),
        (("mcp",), True, True),
        (("mcp:tools",), True, True),
        (("mcp:tools:search",), True, True),
        (("mcp:tools:fetch",), True, False),
        (("mcp:toolsx",), False, False),
        (("mcp:other",), False, False),
        (("chat", "realtime"), False, False),
    ],
)
def test_each_method_is_decided_by_its_declared_action(
    scopes: tuple[str, ...], server: bool, tool: bool
) -> None:
    assert may_send(scopes, MCP_METHODS["ping"].action, "tools") is server
    assert may_send(scopes, MCP_METHODS["tools/call"].action, "tools", "search") is tool
    assert may_call_tool(scopes, "tools", "search") is tool
    assert may_send(scopes, MCP_METHODS["resources/read"].action, "tools") is False
    assert MCP_METHODS["tools/call"].action is MCP_TOOL


@pytest.mark.parametrize(
    ("scopes", "sends"), [((), True), (("realtime",), True), (("chat",), False)]
)
def test_a_realtime_event_needs_its_scope(scopes: tuple[str, ...], sends: bool) -> None:
    assert may_send(scopes, REALTIME_CLIENT_EVENTS["response.create"]) is sends


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
    assert MCP_METHODS["tools/call"].action is MCP_TOOL
    assert MCP_METHODS["resources/read"].charge == "refused"
    assert MCP_METHODS["prompts/get"].charge == "refused"
    assert set(MCP_METHOD_ACTIONS) == set(MCP_METHODS)
    assert all(ACTIONS[a.name] is a for a in MCP_METHOD_ACTIONS.values())
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
