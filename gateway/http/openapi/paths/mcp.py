"""OpenAPI paths of the MCP endpoints (/mcp/{server}): MCP's Streamable HTTP, JSON-RPC 2.0."""

from __future__ import annotations

from gateway.http.openapi.paths.operator import PROXY
from gateway.http.openapi.schemas import ERROR_RESPONSE, STR, Operation, obj, op, path_param

_SERVER = path_param("server")
_MESSAGE = obj(
    ("jsonrpc",),
    jsonrpc={"const": "2.0"}, id={"type": ["string", "integer"]}, method=STR,
    params={"type": "object"}, result={"type": "object"}, error={"type": "object"},
)  # fmt: skip
_SSE = {"text/event-stream": {"schema": STR}}


def _post() -> Operation:
    post = op(
        "Send one MCP JSON-RPC message (each tools/call metered)",
        "mcp",
        PROXY,
        ok=_MESSAGE,
        params=(_SERVER,),
        body=_MESSAGE,
        extra={"202": {"description": "A notification or response, accepted"}},
    )
    post["responses"]["200"]["content"].update(_SSE)
    return post


POST = _post()
GET = {
    "summary": "The server's own stream: not offered (405)",
    "tags": ["mcp"],
    "security": PROXY,
    "parameters": [_SERVER],
    "responses": {
        "405": {"description": "Only POST and DELETE are served"},
        "default": ERROR_RESPONSE,
    },
}
DELETE = {
    "summary": "End an MCP session",
    "tags": ["mcp"],
    "security": PROXY,
    "parameters": [_SERVER],
    "responses": {
        "200": {"description": "The session ended"},
        "default": ERROR_RESPONSE,
    },
}
