"""The MCP servers Meterway meters: one `[mcp.NAME]` table each in the config file.

    [mcp.search]
    url = "https://mcp.example.com/mcp"   # its Streamable HTTP endpoint
    auth_header = "Authorization"         # the default
    auth = "Bearer sk-upstream"           # or MCP_SEARCH_AUTH in the environment

    [mcp.search.tools.web_search]
    per_call = "0.002"

Clients reach it at `/mcp/search`. Every tool a client may call is priced
(billing/pricing/mcp_prices.py); a price that is not exact in micros fails the boot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from billing.pricing.mcp_prices import SERVER_NAME, McpPriceError, ToolPrice, parse_tool_prices
from gateway.config import values as v
from gateway.config.values import ConfigError

FIELDS = frozenset({"url", "auth_header", "auth", "tools"})
HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True, slots=True)
class McpServer:
    name: str
    url: str
    tools: Mapping[str, ToolPrice]
    auth_header: str = "Authorization"
    auth: str = field(default="", repr=False)  # the upstream's secret: never in a repr or log

    def price(self, tool: str) -> ToolPrice | None:
        return self.tools.get(tool)


def _server(name: str, env: Mapping[str, str], entry: object) -> McpServer:
    where = f"[mcp.{name}]"
    if not SERVER_NAME.fullmatch(name):
        raise ConfigError(f"{where}: a server name is lower-case letters, digits, - and _")
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    url = v.url(f"{where} url", str(entry.get("url", "")), ("http", "https"))
    header = str(entry.get("auth_header", "Authorization"))
    if not HEADER.fullmatch(header):
        raise ConfigError(f"{where}: auth_header must be a header name")
    auth = env.get(f"MCP_{name.upper().replace('-', '_')}_AUTH", str(entry.get("auth", "")))
    try:
        tools = parse_tool_prices(name, entry.get("tools", {}))
    except McpPriceError as exc:
        raise ConfigError(str(exc)) from exc
    return McpServer(name, url, tools, header, auth)


def read_mcp(env: Mapping[str, str], cfg: object) -> dict[str, McpServer]:
    """Every `[mcp.NAME]` table, validated: a missing url or an inexact price fails the boot."""
    if not isinstance(cfg, Mapping):
        raise ConfigError("[mcp] must hold tables, one per server")
    return {str(name): _server(str(name), env, entry) for name, entry in cfg.items()}
