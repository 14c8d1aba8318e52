"""`/mcp/{server}`: an MCP server's Streamable HTTP endpoint behind a Meterway key.

Each message is looked up in gateway/mcp/methods.py's table: a method it does not name, or
names as refused, is answered with a JSON-RPC error naming it and never sent; every other
needs the key to reach the server (billing/authority.py's `may_reach_server`). `initialize`
answers with the capabilities the table serves; `tools/list` shows only the tools the key's
scopes allow (`may_call_tool`) and that have a price. Each `tools/call` is held at its worst
case, forwarded and settled (gateway/services/metering/tool_calls.py). Every answer passes the one
scrubber (`wire.scrubbed`). A refusal is a JSON-RPC error whose `data` is the HTTP error's
status and body. GET (the server's own stream) is answered 405, as the transport allows:
nothing reaches a client that was not asked for in a POST.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from billing import authority
from billing.authority import may_call_tool, may_reach_server
from billing.money.end_users import HEADER as END_USER_HEADER
from billing.money.end_users import end_user_id
from gateway.config.mcp import McpServer
from gateway.errors import MeterwayError, NotFound, PermissionDenied
from gateway.http.appkeys import PROXYING, SESSION, SETTINGS
from gateway.http.headers import error_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.openapi.paths import mcp as mcp_doc
from gateway.http.routing import PROVIDER_CALL, SESSION_END, Route, declare
from gateway.http.server import CLIENT_LEFT
from gateway.llm.scrub import operator_scrubber
from gateway.mcp import wire
from gateway.mcp.methods import (
    CLIENT_RESPONSE,
    MCP_METHOD_ACTIONS,
    McpMethod,
    method_entry,
    offered,
)
from gateway.mcp.sessions import bind, session_secret, unbind
from gateway.mcp.upstream import SESSION_HEADER, exchange, read_whole
from gateway.services.keys.mint import mcp_session
from gateway.services.metering.tool_calls import Answered, ToolCall, metered_call
from gateway.stores.records import KeyRecord

PATH = "/mcp/{server}"
JSON = "application/json"
SECRET = web.AppKey("mcp_session_secret", bytes)


class Exchange:
    """One POST: the server, the caller's key, its message and the upstream session."""

    def __init__(
        self, request: web.Request, server: McpServer, key: KeyRecord, message_id: object = None
    ) -> None:
        self.request = request
        self.server = server
        self.key = key
        self.message_id = message_id
        self.secret = request.config_dict[SECRET]
        self.scrubber = operator_scrubber(request.config_dict[SETTINGS])
        self.session: str | None = None

    def upstream_session(self) -> None:
        """The client's session id, unbound; a 404 (MCP's "session not found": the client
        starts a new one) for an id this key was not handed."""
        client = self.request.headers.get(SESSION_HEADER)
        if client is None:
            return
        self.session = unbind(self.secret, self.key.key_id, client)
        if self.session is None:
            raise NotFound("No such MCP session for this key; initialize a new one.")

    async def send(self, raw: bytes) -> Answered:
        http = self.request.config_dict[SESSION]
        async with exchange(
            http, self.server, "POST", self.request.headers, self.session, raw
        ) as resp:
            return await self.read(resp)

    async def read(self, resp: aiohttp.ClientResponse) -> Answered:
        body = await read_whole(resp, self.server)
        headers = {}
        if SESSION_HEADER in resp.headers:
            headers[SESSION_HEADER] = bind(
                self.secret, self.key.key_id, resp.headers[SESSION_HEADER]
            )
        content_type = resp.headers.get("Content-Type", "")
        ok = 200 <= resp.status < 300
        body = wire.scrubbed(content_type, body, self.message_id, ok, self.scrubber)
        return Answered(resp.status, content_type, body, headers)


def _server(request: web.Request) -> McpServer:
    name = request.match_info["server"]
    server = request.config_dict[SETTINGS].mcp.get(name)
    if server is None:
        raise NotFound(f"No MCP server named '{name}' on this gateway.")
    return server


def _answer(answered: Answered, extra: dict[str, str] | None = None) -> web.Response:
    headers = {**answered.headers, **(extra or {})}
    if answered.content_type:
        headers["Content-Type"] = answered.content_type
    return web.Response(status=answered.status, body=answered.body, headers=headers)


def _error(message_id: object, code: int, text: str, data: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None, status: int = 200) -> web.Response:  # fmt: skip
    body = wire.error(message_id, code, text, data)
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


def refusal(message_id: object, exc: MeterwayError) -> web.Response:
    """The HTTP error as a JSON-RPC error: its status and the very body HTTP would carry."""
    data = {"status": exc.status, **exc.openai_body()}
    status = 200 if message_id is not None else exc.status  # a notification: HTTP's own
    return _error(message_id, wire.REFUSED, exc.message, data, error_headers(exc), status)


async def _live(request: web.Request, key: KeyRecord) -> None:
    """A revoked or expired key is refused on every message, not only on tool calls."""
    await request.config_dict[PROXYING].meter.precheck(request[REQUEST_ID], key, key_only=True)


async def post(request: web.Request) -> web.Response:
    server = _server(request)
    key = await request.config_dict[PROXYING].keys.resolve(request)
    raw = await request.read()
    try:
        message = wire.read_message(raw)
    except wire.WireError as exc:
        return _error(None, exc.code, exc.message, status=400)
    method, message_id = message.get("method"), message.get("id")
    ex = Exchange(request, server, key, message_id)
    ex.upstream_session()
    entry = _entry(message)
    if entry is not None and not may_reach_server(key.scopes, server.name):
        return refusal(message_id, _no_scope(server))
    if entry is None or entry.charge == "refused":
        return _not_offered(message_id, method, server)
    if ex.session is None:  # this message opens a session: made by the one mint
        try:
            mcp_session(key, server.name)
        except MeterwayError as exc:
            return refusal(message_id, exc)
    if entry.charge == "priced":
        if message_id is None:  # a notification: a lax server might run it, unmetered
            return _error(None, wire.INVALID_REQUEST, f"{method} needs an id.", status=400)
        return await _call_tool(ex, message, raw)
    await _live(request, key)
    answered = await ex.send(raw)
    if message_id is not None and answered.status == 200 and method in _REWRITES:
        answered = _rewritten(ex, answered, _REWRITES[method](ex))
    return _answer(answered)


def _entry(message: wire.Message) -> McpMethod | None:
    """The table's entry for a message: its method's, a client's answer to the server's
    own request, or None (refused)."""
    if "method" in message:
        return method_entry(message["method"])
    answers = "id" in message and ("result" in message or "error" in message)
    return CLIENT_RESPONSE if answers else None


def _not_offered(message_id: object, method: object, server: McpServer) -> web.Response:
    name = method if isinstance(method, str) else ""
    text = f"The MCP method '{name:.64}' is not offered through this gateway; not sent."
    data = {"method": name[:64], "server": server.name, "reason": "method_not_offered"}
    status = 200 if message_id is not None else 400  # a notification gets no JSON-RPC answer
    return _error(message_id, wire.METHOD_NOT_FOUND, text, data, status=status)


def _no_scope(server: McpServer) -> PermissionDenied:
    scopes = f"mcp, mcp:{server.name} or mcp:{server.name}:TOOL"
    return PermissionDenied(
        f"This key may not use the MCP server '{server.name}': it needs one of the scopes"
        f" {scopes}.",
        param="scopes",
    )


def _rewritten(
    ex: Exchange, answered: Answered, change: Callable[[wire.Message], wire.Message]
) -> Answered:
    body = wire.rewrite_response(answered.content_type, answered.body, ex.message_id, change)
    return Answered(answered.status, answered.content_type, body, answered.headers)


def _capabilities(ex: Exchange) -> Callable[[wire.Message], wire.Message]:
    """`initialize`'s answer with only the capabilities the method table serves."""

    def keep(response: wire.Message) -> wire.Message:
        result = response.get("result")
        if isinstance(result, dict) and "capabilities" in result:
            result = {**result, "capabilities": offered(result["capabilities"])}
            response = {**response, "result": result}
        return response

    return keep


def _listed(ex: Exchange) -> Callable[[wire.Message], wire.Message]:
    """`tools/list`'s answer with only the tools this key may call and that have a price."""

    def keep(response: wire.Message) -> wire.Message:
        result = response.get("result")
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            tools = [t for t in result["tools"] if _callable(ex, t)]
            response = {**response, "result": {**result, "tools": tools}}
        return response

    return keep


_REWRITES = {"initialize": _capabilities, "tools/list": _listed}


def _callable(ex: Exchange, tool: object) -> bool:
    name = tool.get("name") if isinstance(tool, dict) else None
    return (
        isinstance(name, str)
        and ex.server.price(name) is not None
        and may_call_tool(ex.key.scopes, ex.server.name, name)
    )


def _runs_on(request: web.Request, serving: asyncio.Task[None]) -> None:
    """A client that leaves mid-call: the call runs on and is billed if the tool completes."""


async def _call_tool(ex: Exchange, message: wire.Message, raw: bytes) -> web.Response:
    message_id, params = message["id"], message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("name"), str):
        return _error(message_id, wire.INVALID_PARAMS, "tools/call needs params.name.")
    tool: str = params["name"]
    if "task" in params:  # its result would come later, by tasks/result: not metered here
        text = "Task-augmented tools/call is not offered by this gateway; call without task."
        return _error(message_id, wire.INVALID_PARAMS, text)
    server = ex.server
    if not may_call_tool(ex.key.scopes, server.name, tool):
        scopes = f"mcp, mcp:{server.name} or mcp:{server.name}:{tool}"
        denied = PermissionDenied(
            f"This key may not call the tool '{tool}' of '{server.name}': it needs one of"
            f" the scopes {scopes}.",
            param="scopes",
        )
        return refusal(message_id, denied)
    price = server.price(tool)
    if price is None:
        text = f"The tool '{tool}' of '{server.name}' has no price on this gateway; not sent."
        data = {"tool": tool, "server": server.name, "reason": "tool_not_priced"}
        return _error(message_id, wire.INVALID_PARAMS, text, data)
    request = ex.request
    end_user = end_user_id(request.headers.get(END_USER_HEADER))
    call = ToolCall(request[REQUEST_ID], ex.key, server.name, tool, price, message_id, end_user)
    request[CLIENT_LEFT] = _runs_on
    try:
        metered = await metered_call(
            request.config_dict[PROXYING].meter, call, lambda: ex.send(raw)
        )
    except MeterwayError as exc:
        return refusal(message_id, exc)
    cost = (
        {} if metered.cost_micros is None else {"x-meterway-cost-micros": str(metered.cost_micros)}
    )
    return _answer(metered.answered, cost)


async def delete(request: web.Request) -> web.Response:
    """End a session: passed to the server with its own id."""
    server = _server(request)
    key = await request.config_dict[PROXYING].keys.resolve(request)
    if not may_reach_server(key.scopes, server.name):
        raise _no_scope(server)
    ex = Exchange(request, server, key)
    ex.upstream_session()
    http = request.config_dict[SESSION]
    async with exchange(http, server, "DELETE", request.headers, ex.session) as resp:
        return _answer(await ex.read(resp))


async def get(request: web.Request) -> web.Response:
    server = _server(request)
    key = await request.config_dict[PROXYING].keys.resolve(request)
    if not may_reach_server(key.scopes, server.name):
        raise _no_scope(server)
    return web.Response(status=405, headers={"Allow": "POST, DELETE"})


def add_routes(app: web.Application) -> None:
    app[SECRET] = session_secret(app[SETTINGS].admin_api_key)
    declare(
        app.router,
        Route(
            "POST",
            PATH,
            post,
            authority.MCP,
            PROVIDER_CALL,
            doc=mcp_doc.POST,
            messages=MCP_METHOD_ACTIONS,
        ),
        Route("GET", PATH, get, authority.MCP, doc=mcp_doc.GET),
        Route("DELETE", PATH, delete, authority.MCP, SESSION_END, doc=mcp_doc.DELETE),
    )
