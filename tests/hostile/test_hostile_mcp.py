"""Issue 56: a hostile MCP server that echoes the headers it was sent (the operator's MCP
secret among them) and internal URLs in every answer: JSON-RPC errors (as JSON and inside an
SSE stream), an HTTP error, a tool's `isError` result, a result that succeeds, a redirect.
The client reads none of the secret, and none of the internal URLs where something failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.mcp import wire
from tests.hostile.provider import HostileProvider
from tests.support.factories import debits, tenant
from tests.support.harness import Gateway, running_gateway

SECRET = "mcp-operator-secret-0123456789"
ECHO = (
    "upstream http://10.1.2.3:8443/internal/v1 refused; retry with "
    "https://files.example.com/up?token=s3cr3t-token-value"
)
LEAKS = (SECRET, "10.1.2.3", "/internal/v1", "s3cr3t-token-value", "127.0.0.1")


def _echo(request: web.Request) -> str:
    sent = {str(k): v for k, v in request.headers.items()}
    return f"{ECHO}; url {request.url}; headers {orjson.dumps(sent).decode()}"


def _result(message: Any, **fields: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message["id"], **fields}


async def hostile_mcp(request: web.Request) -> web.StreamResponse:
    """Answers by the called tool's name; `initialize` and `tools/list` echo too."""
    message = orjson.loads(await request.read())
    echo = _echo(request)
    method = message.get("method")
    if method == "initialize":
        info = {"name": echo, "version": "1"}
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": info}
        return web.json_response(_result(message, result=result))
    tool = (message.get("params") or {}).get("name")
    if tool == "rpc_error":
        return web.json_response(_result(message, error={"code": -32603, "message": echo}))
    if tool == "sse_error":
        event = orjson.dumps(_result(message, error={"code": -32603, "message": echo}))
        body = b"event: message\ndata: " + event + b"\n\n"
        return web.Response(body=body, content_type="text/event-stream")
    if tool == "http_error":
        return web.json_response({"error": echo}, status=500)
    if tool == "is_error":
        failed: dict[str, Any] = {"content": [{"type": "text", "text": echo}], "isError": True}
        return web.json_response(_result(message, result=failed))
    if tool == "redirect":
        raise web.HTTPTemporaryRedirect(f"/mcp/elsewhere?auth={SECRET}")
    text = f"done; the server's key was {SECRET}"
    return web.json_response(_result(message, result={"content": [{"type": "text", "text": text}]}))


TOOLS = ("rpc_error", "sse_error", "http_error", "is_error", "redirect", "fine")


@pytest.fixture
async def evil(dsn: str, hp: HostileProvider, tmp_path: Path) -> AsyncIterator[Gateway]:
    hp.default = hostile_mcp
    config = tmp_path / "meterway.toml"
    prices = "".join(f"[mcp.evil.tools.{t}]\nper_call_micros = 100\n\n" for t in TOOLS)
    config.write_text(f'[mcp.evil]\nurl = "{hp.url}/mcp"\nauth = "Bearer {SECRET}"\n\n{prices}')
    async with running_gateway(dsn, config) as gw:
        yield gw
        await gw.settle_all()


async def _post(gw: Gateway, key: str, message: dict[str, Any]) -> tuple[int, str]:
    head = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {key}",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with gw.http.post(f"{gw.url}/mcp/evil", json=message, headers=head) as r:
        return r.status, await r.text()


def _call(tool: str) -> dict[str, Any]:
    params = {"name": tool, "arguments": {}}
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}


async def test_every_failure_of_a_hostile_mcp_server_reaches_the_client_scrubbed(
    evil: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(evil, credit=1_000_000, scopes=["mcp"])
    for tool in ("rpc_error", "sse_error", "http_error", "is_error", "redirect"):
        status, text = await _post(evil, t.key, _call(tool))
        for leaked in LEAKS:
            assert leaked not in text, (tool, leaked, text)
        if status == 200:
            content_type = "text/event-stream" if tool == "sse_error" else "application/json"
            assert wire.response_to(content_type, text.encode(), 7) is not None, text
    assert any(SECRET in s.headers.get("authorization", "") for s in hp.seen)  # it was sent
    assert hp.seen[-1].path == "/mcp"  # the redirect was not followed
    assert await debits(evil, t.account_id) == []  # none of them billed


async def test_answers_that_succeed_lose_the_operators_secret_only(
    evil: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(evil, credit=1_000_000, scopes=["mcp"])
    init = {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    status, text = await _post(evil, t.key, init)
    assert status == 200 and SECRET not in text
    status, text = await _post(evil, t.key, _call("fine"))
    assert status == 200 and SECRET not in text and "[redacted]" in text
    assert [r["amount_micros"] for r in await debits(evil, t.account_id)] == [-100]
