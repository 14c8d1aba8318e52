"""The call to an MCP server over Streamable HTTP: the client's MCP headers passed on, the
session id swapped for the upstream's, the operator's secret added, a redirect never
followed; aiohttp's failures become the gateway's own errors where they enter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

from gateway.config.mcp import McpServer
from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable

PASSED = frozenset({"accept", "content-type", "last-event-id"})
SESSION_HEADER = "Mcp-Session-Id"
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a tool call's or tool list's answer, read whole


def _passed(name: str) -> bool:
    """MCP's own headers (the protocol version; a 2026-07-28 request's Mcp-Method, Mcp-Name
    and Mcp-Param-*, which the server checks against the body) and the body's framing."""
    lower = name.lower()
    return lower in PASSED or (lower.startswith("mcp-") and lower != "mcp-session-id")


def _headers(server: McpServer, client: Mapping[str, str], session: str | None) -> dict[str, str]:
    headers = {name: value for name, value in client.items() if _passed(name)}
    if session is not None:
        headers[SESSION_HEADER] = session
    if server.auth:
        headers[server.auth_header] = server.auth
    return headers


@asynccontextmanager
async def exchange(
    http: aiohttp.ClientSession,
    server: McpServer,
    method: str,
    client_headers: Mapping[str, str],
    session: str | None,
    body: bytes = b"",
) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the server; the answer is open inside the block."""
    headers = _headers(server, client_headers, session)
    try:
        async with http.request(
            method, server.url, data=body or None, headers=headers, allow_redirects=False
        ) as resp:
            if 300 <= resp.status < 400:  # the operator's secret would go with it
                raise UpstreamError(
                    f"The MCP server '{server.name}' answered a redirect; it is not followed."
                )
            yield resp
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamUnreachable(f"The MCP server '{server.name}' could not be reached.") from exc
    except TimeoutError as exc:
        raise UpstreamTimeout(f"The MCP server '{server.name}' did not answer in time.") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(
            f"The MCP server '{server.name}' failed: {type(exc).__name__}."
        ) from exc


async def read_whole(resp: aiohttp.ClientResponse, server: McpServer) -> bytes:
    """The answer's bytes, at most MAX_ANSWER_BYTES (a larger one is the server's fault)."""
    chunks, size = [], 0
    try:
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise UpstreamError(
                    f"The MCP server '{server.name}' answered more than {MAX_ANSWER_BYTES} bytes."
                )
            chunks.append(chunk)
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"The MCP server '{server.name}' failed mid-answer.") from exc
    except TimeoutError as exc:
        raise UpstreamTimeout(f"The MCP server '{server.name}' did not answer in time.") from exc
    return b"".join(chunks)
