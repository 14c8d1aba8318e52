"""MCP tool calls through Meterway, driven by the official `mcp` SDK on both sides: the SDK's
client (streamable_http_client + ClientSession) against the SDK's MCPServer behind the gateway.
Each priced call is held, forwarded and debited exactly; refusals are JSON-RPC errors carrying
the HTTP billing body; nothing unpriced is forwarded; failures are not billed."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from agents.mcp import MCPServerStreamableHttp
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from playwright.async_api import Page

from gateway.mcp import wire
from tests.support.browser_kit import sign_in
from tests.support.factories import debits, eventual_debits, ledger, tenant
from tests.support.fakes.mcp_tools import INIT, ToolServer, mcp_config, rpc, running_tools
from tests.support.harness import Gateway, running_gateway
from tests.support.invariants import check_invariants


def first_text(result: CallToolResult) -> str:
    """A call's first content part, which the test server's tools answer as text."""
    part = result.content[0]
    assert isinstance(part, TextContent), part
    return part.text


@dataclass
class Setup:
    gw: Gateway
    tools: ToolServer


@pytest.fixture
async def setup(dsn: str, tmp_path: Path) -> AsyncIterator[Setup]:
    async with running_tools() as tools:
        config = tmp_path / "meterway.toml"
        config.write_text(mcp_config(tools.url))
        async with running_gateway(dsn, config) as gw:
            yield Setup(gw, tools)
            await gw.settle_all()


@pytest.fixture
def gw(setup: Setup) -> Gateway:
    """The gateway in front of the tool server (the browser's `page` fixture takes it)."""
    return setup.gw


@asynccontextmanager
async def session(
    gw: Gateway, key: str, server: str = "tools", **headers: str
) -> AsyncIterator[ClientSession]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}", **headers})
    async with (
        http,
        streamable_http_client(f"{gw.url}/mcp/{server}", http_client=http) as (read, write),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


def raw_headers(key: str, version: str, **extra: str) -> dict[str, str]:
    """What an MCP client sends with each POST, for the tests that speak the wire by hand."""
    return {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {key}",
        "MCP-Protocol-Version": version,
        **extra,
    }


async def balance(gw: Gateway, account_id: str) -> int:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}")
    assert status == 200, body
    return int(body["balance_micros"])


async def refused(client: ClientSession, tool: str, args: dict[str, Any] | None = None) -> Any:
    with pytest.raises(MCPError) as caught:
        await client.call_tool(tool, args or {})
    return caught.value.error


async def test_tools_list_shows_only_what_the_key_may_call(setup: Setup) -> None:
    gw = setup.gw
    one = await tenant(gw, scopes=["mcp:tools:search"])
    every = await tenant(gw, scopes=["mcp"])
    server = await tenant(gw, scopes=["mcp:tools"])
    chat = await tenant(gw, scopes=["chat"])
    async with session(gw, one.key) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["search"]
        denied = await refused(client, "fetch_pages", {"url": "u", "pages": 1})
        assert denied.data["status"] == 403 and "fetch_pages" in denied.message
    for t in (every, server):
        async with session(gw, t.key) as client:
            names = sorted(t.name for t in (await client.list_tools()).tools)
            assert names == ["broken", "fetch_pages", "search"]  # free_tool has no price
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Authorization": f"Bearer {chat.key}", "Accept": "application/json"}
    async with gw.http.post(f"{gw.url}/mcp/tools", json=hello, headers=headers) as r:
        answer = await r.json()  # no MCP scope: the one mint opens no session
    assert answer["error"]["data"]["status"] == 403 and "mcp-session-id" not in r.headers
    assert setup.tools.ran["fetch_pages"] == 0 and setup.tools.ran["search"] == 0


async def test_a_priced_call_is_debited_exactly_and_the_ledger_equals_the_balance(
    setup: Setup,
) -> None:
    gw, tools = setup.gw, setup.tools
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    async with session(gw, t.key) as client:
        for q in ("a", "b", "c"):
            result = await client.call_tool("search", {"query": q})
            assert not result.is_error and first_text(result) == f"results for {q}"
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-2000] * 3
    assert {(r["model"], r["provider"]) for r in rows} == {("mcp:tools/search", "mcp:tools")}
    assert await balance(gw, t.account_id) == 1_000_000 - 6000
    await check_invariants(gw.stores(), [t.account_id])
    assert tools.auth_seen == {"Bearer upstream-secret"}  # the operator's secret, not the key
    assert tools.ran["search"] == 3


async def test_a_per_unit_price_reads_the_result_field_and_never_exceeds_its_hold(
    setup: Setup,
) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    async with session(gw, t.key) as client:
        seven = await client.call_tool("fetch_pages", {"url": "doc", "pages": 7})
        assert seven.structured_content == {"pages": 7, "text": "doc: 7 pages"}
        await client.call_tool("fetch_pages", {"url": "doc", "pages": 50})
    rows = await debits(gw, t.account_id)
    # 100 micros a call + 500 a page; 50 pages is above max_units = 10: billed 10.
    assert sorted(r["amount_micros"] for r in rows) == [-5100, -3600]
    # each row records the units billed (the 50 reported are capped at 10), so its debit
    # re-derives from the row: 100 + 500 x units
    assert sorted((r["usage_detail"] or {})["units"] for r in rows) == [7, 10]
    assert all(-r["amount_micros"] == 100 + 500 * r["usage_detail"]["units"] for r in rows)
    assert await balance(gw, t.account_id) == 1_000_000 - 8700
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_tool_without_a_price_is_refused_by_name_and_never_sent(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    async with session(gw, t.key) as client:
        error = await refused(client, "free_tool")
    assert error.code == -32602 and "free_tool" in error.message and "no price" in error.message
    assert error.data == {"tool": "free_tool", "server": "tools", "reason": "tool_not_priced"}
    assert setup.tools.ran["free_tool"] == 0
    assert await debits(gw, t.account_id) == []


async def test_out_of_credit_is_a_json_rpc_error_carrying_the_402_body(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1500, scopes=["mcp"])
    async with session(gw, t.key) as client:
        error = await refused(client, "search", {"query": "q"})
    assert error.code == -32000 and error.data["status"] == 402
    body = error.data["error"]
    assert body["type"] == "billing_required" and body["reason"] == "insufficient_balance"
    assert body["required_micros"] == 2000 and body["balance_micros"] == 1500
    assert body["next"]["action"] and body["next"]["url"]
    assert setup.tools.ran["search"] == 0
    assert await balance(gw, t.account_id) == 1500


async def test_a_full_quota_window_is_a_json_rpc_error_carrying_the_429_body(
    setup: Setup,
) -> None:
    gw = setup.gw
    t = await tenant(
        gw, scopes=["mcp"], quotas=[{"window": "hour", "metric": "requests", "limit": 1}]
    )
    async with session(gw, t.key) as client:
        await client.call_tool("search", {"query": "first"})
        error = await refused(client, "search", {"query": "second"})
    assert error.data["status"] == 429 and error.data["error"]["type"] == "quota_exceeded"
    assert setup.tools.ran["search"] == 1
    assert len(await debits(gw, t.account_id)) == 1


async def test_an_end_user_budget_holds_tool_calls_and_the_debit_names_the_end_user(
    setup: Setup,
) -> None:
    gw = setup.gw
    t = await tenant(gw, scopes=["mcp"])
    path = f"/admin/v1/accounts/{t.account_id}/end-user-budgets"
    hourly = [{"window": "hour", "metric": "requests", "limit": 1}]
    assert (await gw.admin("PUT", path, {"quotas": hourly}))[0] == 200
    async with session(gw, t.key, **{"x-meterway-end-user": "alice"}) as client:
        await client.call_tool("search", {"query": "first"})
        error = await refused(client, "search", {"query": "second"})
    body = error.data["error"]
    assert error.data["status"] == 429 and (body["scope"], body["scope_id"]) == (
        "end_user",
        "alice",
    )
    async with session(gw, t.key, **{"x-meterway-end-user": "bob"}) as client:
        await client.call_tool("search", {"query": "bob's"})
    rows = await debits(gw, t.account_id)
    assert sorted(r["end_user"] for r in rows) == ["alice", "bob"]
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_team_spend_budget_holds_tool_calls_at_their_worst_case(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, scopes=["mcp"])
    path = f"/admin/v1/accounts/{t.account_id}/teams"
    budget = [{"window": "hour", "metric": "spend_micros", "limit": 5000}]
    status, team = await gw.admin("POST", path, {"name": "research", "quotas": budget})
    assert status == 201, team
    joined = await gw.admin("PUT", f"/admin/v1/keys/{t.key_id}/team", {"team_id": team["id"]})
    assert joined[0] == 200, joined
    async with session(gw, t.key) as client:
        for q in ("one", "two"):
            await client.call_tool("search", {"query": q})
        error = await refused(client, "search", {"query": "three"})
    assert error.data["status"] == 429 and error.data["error"]["scope"] == "team"
    assert setup.tools.ran["search"] == 2
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-2000, -2000]
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_failing_tool_is_not_billed_and_its_hold_is_released(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    async with session(gw, t.key) as client:
        result = await client.call_tool("broken", {})
    assert result.is_error and setup.tools.ran["broken"] == 1
    await gw.settle_all()
    assert await debits(gw, t.account_id) == []
    assert await balance(gw, t.account_id) == 1_000_000
    await check_invariants(gw.stores(), [t.account_id])


async def test_parallel_calls_cannot_overdraw(setup: Setup) -> None:
    gw, tools = setup.gw, setup.tools
    tools.delay_s = 0.05  # every call is held while the others reserve
    t = await tenant(gw, credit=5 * 2000 + 1999, scopes=["mcp"])
    async with session(gw, t.key) as client:
        outcomes = await asyncio.gather(
            *(client.call_tool("search", {"query": str(i)}) for i in range(16)),
            return_exceptions=True,
        )
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    errors = [o for o in outcomes if isinstance(o, MCPError)]
    assert len(ok) + len(errors) == 16 and len(ok) == 5
    assert {e.error.data["status"] for e in errors} == {402}
    assert tools.ran["search"] == 5
    assert await balance(gw, t.account_id) == 1999
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-2000] * 5
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_session_is_bound_to_the_key_that_opened_it(setup: Setup) -> None:
    gw = setup.gw
    owner = await tenant(gw, scopes=["mcp"])
    other = await tenant(gw, scopes=["mcp"])
    head = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    url = f"{gw.url}/mcp/tools"
    async with gw.http.post(
        url, json=init, headers={**head, "Authorization": f"Bearer {owner.key}"}
    ) as r:
        assert r.status == 200
        sid = r.headers["Mcp-Session-Id"]
    assert sid not in setup.tools.sessions_seen and sid.rpartition(".")[0]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    stolen = {**head, "Authorization": f"Bearer {other.key}", "Mcp-Session-Id": sid}
    async with gw.http.post(url, json=call, headers=stolen) as r:
        assert r.status == 404
    forged = {**head, "Authorization": f"Bearer {other.key}", "Mcp-Session-Id": sid[:-1] + "0"}
    async with gw.http.post(url, json=call, headers=forged) as r:
        assert r.status == 404


async def test_tool_calls_are_in_the_usage_report_like_any_model(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp", "usage:read"])
    async with session(gw, t.key) as client:
        await client.call_tool("search", {"query": "q"})
        await client.call_tool("fetch_pages", {"url": "d", "pages": 2})
    await gw.settle_all()
    async with gw.http.get(
        f"{gw.url}/v1/account/usage?group_by=model", headers={"Authorization": f"Bearer {t.key}"}
    ) as r:
        assert r.status == 200
        body = await r.json()
    text = str(body)
    assert "mcp:tools/search" in text and "mcp:tools/fetch_pages" in text
    async with gw.http.get(
        f"{gw.url}/v1/account/usage?group_by=kind", headers={"Authorization": f"Bearer {t.key}"}
    ) as r:
        assert r.status == 200
        kinds = await r.json()
    assert [row["kind"] for row in kinds["data"]] == ["tools"], kinds  # not model calls
    entries = await ledger(gw, t.account_id)
    assert {e["model"] for e in entries if e["kind"] == "debit"} == {
        "mcp:tools/search", "mcp:tools/fetch_pages",
    }  # fmt: skip


async def test_tool_calls_show_in_the_explorer_its_csv_a_request_page_and_the_statement(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(
        gw,
        credit=1_000_000,
        scopes=["mcp", "billing", "usage:read", "account:read", "statements:read"],
    )
    async with session(gw, t.key) as client:
        await client.call_tool("fetch_pages", {"url": "d", "pages": 4})
    [row] = await debits(gw, t.account_id)
    assert row["amount_micros"] == -2100
    await sign_in(page, t.key)
    await page.goto("/dashboard/usage")
    await page.select_option("#f-group", "model")
    await page.click("form.filters button[type=submit]")
    table = await page.inner_text("#usage-table")
    assert "mcp:tools/fetch_pages" in table
    async with page.expect_download() as info:
        await page.click("#csv")
    text = (await (await info.value).path()).read_text()
    csv_rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["model"], int(r["spend_micros"])) for r in csv_rows] == [
        ("mcp:tools/fetch_pages", 2100)
    ]
    answer = await page.goto(f"/dashboard/usage/requests/{row['request_id']}")
    assert answer is not None and answer.status == 200
    assert "mcp:tools/fetch_pages" in await page.inner_text("main")
    month = row["occurred_at"][:7]
    async with gw.http.get(
        f"{gw.url}/v1/account/statements/{month}", headers={"Authorization": f"Bearer {t.key}"}
    ) as r:
        assert r.status == 200, await r.text()
        statement = await r.text()
    assert "mcp:tools/fetch_pages" in statement


async def test_an_openai_agents_mcp_server_lists_and_calls_metered_tools(setup: Setup) -> None:
    """docs/guides/mcp.md's agent: openai-agents' MCPServerStreamableHttp, as configured there."""
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp:tools:search"])
    server = MCPServerStreamableHttp(
        params={"url": f"{gw.url}/mcp/tools", "headers": {"Authorization": f"Bearer {t.key}"}},
        name="tools",
    )
    async with server:
        assert [tool.name for tool in await server.list_tools()] == ["search"]
        result = await server.call_tool("search", {"query": "meterway"})
    assert first_text(result) == "results for meterway"
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-2000]


async def test_a_tools_call_without_an_id_or_as_a_task_is_refused_and_never_sent(
    setup: Setup,
) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    head = raw_headers(t.key, "2025-11-25")
    call = {"name": "search", "arguments": {"query": "q"}}
    notification = {"jsonrpc": "2.0", "method": "tools/call", "params": call}
    async with gw.http.post(f"{gw.url}/mcp/tools", json=notification, headers=head) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == -32600
    task = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {**call, "task": {}}}
    async with gw.http.post(f"{gw.url}/mcp/tools", json=task, headers=head) as r:
        body = await r.json()
        assert body["error"]["code"] == -32602 and "task" in body["error"]["message"]
    assert setup.tools.ran["search"] == 0
    assert await debits(gw, t.account_id) == []


async def test_a_client_that_leaves_mid_call_is_billed_when_the_tool_completes(
    setup: Setup,
) -> None:
    gw, tools = setup.gw, setup.tools
    tools.delay_s = 0.5
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    url = f"{gw.url}/mcp/tools"
    head = raw_headers(t.key, "2025-11-25")
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }  # fmt: skip
    async with gw.http.post(url, json=init, headers=head) as r:
        assert r.status == 200, await r.text()
        head["Mcp-Session-Id"] = r.headers["Mcp-Session-Id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    async with gw.http.post(url, json=done, headers=head) as r:
        assert r.status == 202
    params = {"name": "search", "arguments": {"query": "q"}}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await gw.http.post(url, json=call, headers=head)
    rows = await eventual_debits(gw, t.account_id)  # the call ran on without its client
    assert [r["amount_micros"] for r in rows] == [-2000]
    assert tools.ran["search"] == 1
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_stateless_2026_07_28_call_is_metered_too(setup: Setup) -> None:
    gw = setup.gw
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    head = raw_headers(t.key, "2026-07-28", **{"Mcp-Method": "tools/call", "Mcp-Name": "search"})
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "search", "arguments": {"query": "q"}, "_meta": meta}
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    async with gw.http.post(f"{gw.url}/mcp/tools", json=call, headers=head) as r:
        assert r.status == 200 and r.headers["x-meterway-cost-micros"] == "2000"
        body = await r.json()
    assert body["result"]["resultType"] == "complete" and "Mcp-Session-Id" not in r.headers
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-2000]


async def post_raw(gw: Gateway, key: str, message: Any, **extra: str) -> tuple[int, Any]:
    head = raw_headers(key, "2025-11-25", **extra)
    async with gw.http.post(f"{gw.url}/mcp/tools", json=message, headers=head) as r:
        body = await r.read()
    if r.content_type == wire.SSE:  # the answer among the stream's events
        return r.status, wire.response_to(wire.SSE, body, message.get("id"))
    return r.status, orjson.loads(body) if body else None


async def test_a_key_without_an_mcp_scope_reaches_nothing_of_the_server(setup: Setup) -> None:
    """Issue 56: a key with no MCP scope opened a session and read the server's resources
    and prompts with the operator's credential, unmetered."""
    gw, tools = setup.gw, setup.tools
    chat = await tenant(gw, scopes=["chat"])
    for message in (
        INIT,
        rpc(2, "ping"),
        rpc(3, "tools/list"),
        rpc(4, "resources/read", {"uri": "docs://readme"}),
        rpc(5, "prompts/get", {"name": "summarize", "arguments": {"text": "x"}}),
    ):
        status, body = await post_raw(gw, chat.key, message)
        assert status == 200 and body["error"]["data"]["status"] == 403, (message, body)
        assert "mcp:tools" in body["error"]["message"]
    status, body = await post_raw(gw, chat.key, rpc(None, "notifications/initialized"))
    assert status == 403 and body["error"]["data"]["status"] == 403
    auth = {"Authorization": f"Bearer {chat.key}"}
    for verb in ("GET", "DELETE"):
        async with gw.http.request(verb, f"{gw.url}/mcp/tools", headers=auth) as r:
            assert r.status == 403, verb
    assert tools.sessions_seen == set() and tools.auth_seen == set()  # nothing was sent
    assert tools.ran == {}


async def test_methods_other_than_tools_are_refused_by_name_and_never_sent(setup: Setup) -> None:
    """Resources, prompts, completions, logging, tasks and any method the table does not
    name: refused by name, for every key; `initialize` offers the server's tools only."""
    gw, tools = setup.gw, setup.tools
    t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
    status, body = await post_raw(gw, t.key, INIT)
    assert status == 200 and list(body["result"]["capabilities"]) == ["tools"], body
    async with session(gw, t.key) as client:
        with pytest.raises(MCPError) as read:
            await client.read_resource("docs://readme")
        assert read.value.error.code == -32601
        assert read.value.error.data == {
            "method": "resources/read", "server": "tools", "reason": "method_not_offered",
        }  # fmt: skip
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("summarize", {"text": "x"})
        assert "prompts/get" in prompt.value.error.message
    for method in ("resources/list", "completion/complete", "logging/setLevel", "x/unknown"):
        status, body = await post_raw(gw, t.key, rpc(9, method, {}))
        assert status == 200 and body["error"]["code"] == -32601, (method, body)
        assert body["error"]["data"]["method"] == method
    status, _ = await post_raw(gw, t.key, rpc(None, "notifications/unknown"))
    assert status == 400
    assert tools.ran == {}
    assert await debits(gw, t.account_id) == []
