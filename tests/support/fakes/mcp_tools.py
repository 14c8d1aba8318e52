"""A real MCP server (the official SDK's MCPServer, FastMCP's successor, over Streamable HTTP)
run on a local port for the MCP tests, behind its own bearer secret, counting what it runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from tests.support.harness import free_port

UPSTREAM_SECRET = "Bearer upstream-secret"


class Pages(BaseModel):
    pages: int
    text: str


@dataclass
class ToolServer:
    url: str
    ran: Counter[str] = field(default_factory=Counter)  # tool runs by name
    auth_seen: set[str] = field(default_factory=set)
    sessions_seen: set[str] = field(default_factory=set)
    methods: Counter[str] = field(default_factory=Counter)  # JSON-RPC methods it was sent
    delay_s: float = 0.0


def _tools(server: ToolServer) -> MCPServer:
    mcp = MCPServer("meterway-test-tools")

    @mcp.tool()
    async def search(query: str) -> str:
        """Search the web."""
        server.ran["search"] += 1
        await asyncio.sleep(server.delay_s)
        return f"results for {query}"

    @mcp.tool()
    def fetch_pages(url: str, pages: int) -> Pages:
        """Fetch a document's pages; the result says how many."""
        server.ran["fetch_pages"] += 1
        return Pages(pages=pages, text=f"{url}: {pages} pages")

    @mcp.tool()
    def free_tool() -> str:
        """A tool the operator gave no price."""
        server.ran["free_tool"] += 1
        return "free"

    @mcp.resource("docs://readme")
    def readme() -> str:
        """The operator's private notes, read with its credential."""
        server.ran["resources/read"] += 1
        return "internal notes"

    @mcp.prompt()
    def summarize(text: str) -> str:
        """A prompt the server keeps."""
        server.ran["prompts/get"] += 1
        return f"Summarize: {text}"

    @mcp.tool()
    def broken() -> str:
        """Always fails."""
        server.ran["broken"] += 1
        raise RuntimeError("the backend is down")

    return mcp


def _guarded(app: Any, server: ToolServer) -> Any:
    """Refuse a request without the operator's secret; note the session ids seen."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            server.auth_seen.add(headers.get("authorization", ""))
            if "mcp-session-id" in headers:
                server.sessions_seen.add(headers["mcp-session-id"])
            if headers.get("authorization") != UPSTREAM_SECRET:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            receive = _noting(receive, server)
        await app(scope, receive, send)

    return guarded


def _noting(receive: Any, server: ToolServer) -> Any:
    """`receive`, counting the JSON-RPC method of the body it reads (a client's answer: '')."""
    body = bytearray()

    async def noted() -> Any:
        message = await receive()
        if message["type"] == "http.request":
            body.extend(message.get("body", b""))
            if not message.get("more_body") and body:
                try:
                    sent = orjson.loads(bytes(body))
                except orjson.JSONDecodeError:
                    sent = None
                server.methods[sent.get("method", "") if isinstance(sent, dict) else ""] += 1
        return message

    return noted


@asynccontextmanager
async def running_tools() -> AsyncIterator[ToolServer]:
    port = free_port()
    server = ToolServer(f"http://127.0.0.1:{port}/mcp")
    app = _guarded(_tools(server).streamable_http_app(), server)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        uv.should_exit = True
        await task


def rpc(message_id: int | None, method: str, params: Any = None) -> dict[str, Any]:
    """A JSON-RPC message as an MCP client sends it (no id: a notification)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if message_id is not None:
        message["id"] = message_id
    return message if params is None else {**message, "params": params}


INIT = rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "t", "version": "1"}})  # fmt: skip


def mcp_config(url: str) -> str:
    """The `[mcp.tools]` table the tests' gateway reads (docs/guides/mcp.md shows the same)."""
    return f"""
[mcp.tools]
url = "{url}"
auth = "{UPSTREAM_SECRET}"

[mcp.tools.tools.search]
per_call = "0.002"

[mcp.tools.tools.fetch_pages]
per_call_micros = 100
per_unit = "0.0005"
unit_field = "structuredContent.pages"
max_units = 10

[mcp.tools.tools.broken]
per_call = "0.001"
"""
