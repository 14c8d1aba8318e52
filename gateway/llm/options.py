"""Request options a provider bills beyond base text rates: refused with a 400 naming them.

The pricing table holds standard-tier text prices only, so an option that changes the price
(a priority tier, audio output, server-side web search or code execution, stored completions)
would be billed at the wrong rate if it passed through. Each is refused by name instead; the
headers that would pick another billing account or beta pricing are not forwarded at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest

PRICED_TIERS = frozenset({"auto", "default", "standard_only"})
SERVER_TOOL_PREFIXES = (
    "web_search",
    "web_fetch",
    "code_execution",
    "file_search",
    "mcp",
    "image_generation",
    "code_interpreter",
)
REFUSED_FIELDS = ("web_search_options", "audio", "mcp_servers", "container")
REFUSED_HEADERS = ("anthropic-beta",)


def _refuse(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{name}' {why}; this gateway prices standard text only, so it is not accepted.",
        param=name,
        extra={"unpriced_option": name},
    )


def _check_tools(tools: object) -> None:
    """Tools the provider runs itself (search, code, MCP) are billed per use."""
    if not isinstance(tools, list):
        return
    for tool in tools:
        kind = str(tool.get("type") or "") if isinstance(tool, dict) else ""
        if kind.startswith(SERVER_TOOL_PREFIXES):
            raise _refuse("tools", f"includes the server-side tool '{kind}', billed per use")


def refuse_unpriced(body: Mapping[str, Any]) -> None:
    """Raise InvalidRequest naming the first billable option the pricing table cannot price."""
    tier = body.get("service_tier")
    if tier is not None and tier not in PRICED_TIERS:
        raise _refuse("service_tier", f"is {tier!r}, a tier billed at other rates")
    if body.get("store") not in (None, False):
        raise _refuse("store", "asks the provider to store the completion")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise _refuse("modalities", "asks for audio output, billed at audio rates")
    for name in REFUSED_FIELDS:
        if body.get(name) is not None:
            raise _refuse(name, "enables a feature billed apart from tokens")
    _check_tools(body.get("tools"))


def refuse_billing_headers(headers: Mapping[str, str]) -> None:
    """`anthropic-beta` can switch on beta pricing (1M context, longer cache TTLs)."""
    for name in REFUSED_HEADERS:
        if name in headers:
            raise _refuse(name, "selects beta features some of which are billed differently")
