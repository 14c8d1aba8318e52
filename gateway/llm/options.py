"""Request options a provider bills beyond base text rates: refused with a 400 naming them.

The pricing table holds standard-tier text prices only, so an option that changes the price
(a priority tier, audio output, server-side web search or code execution, stored completions)
would be billed at the wrong rate if it passed through. Each is refused by name instead; the
headers that would pick another billing account or beta pricing are not forwarded at all.

An endpoint that bills what the provider reports beyond tokens (the Responses API: its
service tier and built-in tool runs) passes the model's priced tiers and the tools that
have a per-run fee in the table, and storage (a stored response is what retrieve reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.names import one_of
from billing.pricing import ModelPrice
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
# Every field refuse_unpriced reads: a body with none of them (most) is passed at once.
CHECKED_FIELDS = frozenset({"service_tier", "store", "modalities", "tools", *REFUSED_FIELDS})
REFUSED_HEADERS = ("anthropic-beta",)
# Built-in tool types that have a per-run fee, by the output item type each run produces.
FEE_TOOLS = {"web_search": "web_search_call", "file_search": "file_search_call"}


def fee_item(tool: object) -> str | None:
    """The output item a declared built-in tool produces when it runs, if it has a fee."""
    kind = tool.get("type") if isinstance(tool, dict) else None
    if not isinstance(kind, str):
        return None
    return next((item for prefix, item in FEE_TOOLS.items() if kind.startswith(prefix)), None)


def _refuse(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{name}' {why}; this gateway prices standard text only, so it is not accepted.",
        param=name,
        extra={"unpriced_option": name},
    )


def _check_tools(tools: object, extras: ModelPrice | None) -> None:
    """Tools the provider runs itself (search, code, MCP) are billed per use."""
    if not isinstance(tools, list):
        return
    for tool in tools:
        kind = str(tool.get("type") or "") if isinstance(tool, dict) else ""
        if extras is not None and fee_item(tool) in extras.tool_fees:
            continue
        if kind.startswith(SERVER_TOOL_PREFIXES):
            raise _refuse("tools", f"includes the server-side tool '{kind}', billed per use")


def refuse_unpriced(body: Mapping[str, Any], extras: ModelPrice | None = None) -> None:
    """Raise InvalidRequest naming the first billable option the pricing table cannot price.

    `extras` is the model's price when the endpoint bills reported tiers and tool runs.
    """
    if body.keys().isdisjoint(CHECKED_FIELDS):
        return
    tier = body.get("service_tier")
    priced = PRICED_TIERS | (extras.service_tiers.keys() if extras is not None else set())
    if tier is not None and not one_of(tier, priced):
        raise _refuse("service_tier", f"is {tier!r}, a tier billed at other rates")
    if extras is None and body.get("store") not in (None, False):
        raise _refuse("store", "asks the provider to store the completion")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise _refuse("modalities", "asks for audio output, billed at audio rates")
    for name in REFUSED_FIELDS:
        if body.get(name) is not None:
            raise _refuse(name, "enables a feature billed apart from tokens")
    _check_tools(body.get("tools"), extras)


def refuse_billing_headers(headers: Mapping[str, str]) -> None:
    """`anthropic-beta` can switch on beta pricing (1M context, longer cache TTLs)."""
    for name in REFUSED_HEADERS:
        if name in headers:
            raise _refuse(name, "selects beta features some of which are billed differently")
