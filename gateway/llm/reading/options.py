"""Request options a provider bills beyond the model's token rates: priced, or refused by name.

What the model's prices cover passes: a service tier it has rates for, audio output where it
prices audio tokens, a built-in search tool it has a per-call fee for, chat's
`web_search_options` on a search model (each of its calls searches, billed as its per-call
fee plus tokens). Anything else that
changes the bill (an unpriced tier or tool, code execution billed per container hour, MCP
servers) is refused with a 400 naming it, before anything is reserved.
Anthropic's beta header is read by `betas.py`: a beta passes when its price effect is
priced, else it is refused by name like these options.

An endpoint that keeps what it makes (the Responses API: a stored response is what retrieve
reads) passes `store`; elsewhere storing is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing.names import one_of
from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.llm.reading.kinds import output_modalities

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
REFUSED_FIELDS = ("mcp_servers", "container")
SEARCH_OPTIONS = "web_search_options"  # chat's search models: a per-call fee, plus tokens
# Every field refuse_unpriced reads: a body with none of them (most) is passed at once.
CHECKED_FIELDS = frozenset(
    {
        "service_tier", "store", "modalities", "audio", "tools", SEARCH_OPTIONS, *REFUSED_FIELDS,
        "generationConfig", "generation_config",
    }
)  # fmt: skip
# Gemini's answer modalities, by the price each needs.
MODALITY_PRICES = {
    "AUDIO": "output_audio_mtok", "IMAGE": "output_image_mtok", "VIDEO": "output_video_mtok",
}  # fmt: skip
# Built-in tool types that have a per-run fee, by the output item type each run produces.
FEE_TOOLS = {"web_search": "web_search_call", "file_search": "file_search_call"}
# The catalogue's price of each such run.
FEE_PRICES = {
    "web_search_call": "web_searches_kcount",
    "file_search_call": "storage_searches_kcount",
}
# Server tools billed as the tokens they add, with no fee of their own.
TOKEN_ONLY_TOOLS = ("web_fetch",)


def fee_item(tool: object) -> str | None:
    """The output item a declared built-in tool produces when it runs, if it has a fee."""
    kind = tool.get("type") if isinstance(tool, dict) else None
    if not isinstance(kind, str):
        return None
    return next((item for prefix, item in FEE_TOOLS.items() if kind.startswith(prefix)), None)


def _refuse(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"'{name}' {why}; the gateway cannot price it, so it is not accepted.",
        param=name,
        extra={"unpriced_option": name},
    )


def _check_tools(tools: object, price: ModelPrice, counts_runs: bool) -> None:
    """Tools the provider runs itself (search, code, MCP) are billed per use: a fee tool
    passes where the model has its fee and the endpoint's usage says how often it ran."""
    if not isinstance(tools, list):
        return
    for tool in tools:
        kind = str(tool.get("type") or "") if isinstance(tool, dict) else ""
        item = fee_item(tool)
        priced = item is not None and counts_runs and price.prices(FEE_PRICES[item])
        if priced or kind.startswith(TOKEN_ONLY_TOOLS):
            continue
        if kind.startswith(SERVER_TOOL_PREFIXES):
            raise _refuse("tools", f"includes the server-side tool '{kind}', billed per use")


def _asks_audio(body: Mapping[str, Any]) -> bool:
    modalities = body.get("modalities")
    return body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities)


def refuse_unpriced(
    body: Mapping[str, Any], price: ModelPrice, stores: bool = False, counts_runs: bool = False
) -> None:
    """Raise InvalidRequest naming the first billable option `price` cannot price.

    `stores`: the endpoint keeps what it makes (the Responses API), so `store` passes;
    `counts_runs`: its usage reports built-in tool runs, so a priced fee tool passes."""
    if body.keys().isdisjoint(CHECKED_FIELDS):
        return
    tier = body.get("service_tier")
    if tier is not None and not (one_of(tier, PRICED_TIERS) or one_of(tier, price.tiers())):
        raise _refuse("service_tier", f"is {tier!r}, a tier billed at other rates")
    if not stores and body.get("store") not in (None, False):
        raise _refuse("store", "asks the provider to store the completion")
    if _asks_audio(body) and not price.prices("output_audio_mtok"):
        raise _refuse("modalities", "asks for audio output, which this model has no price for")
    for modality in sorted(output_modalities(dict(body))):
        if not price.prices(MODALITY_PRICES.get(modality, modality)):
            raise _refuse(
                "generationConfig.responseModalities",
                f"asks for {modality} output, which this model has no price for",
            )
    if body.get(SEARCH_OPTIONS) is not None and not price.prices("requests_kcount"):
        raise _refuse(SEARCH_OPTIONS, "asks for a web search, which this model has no fee for")
    for name in REFUSED_FIELDS:
        if body.get(name) is not None:
            raise _refuse(name, "enables a feature billed apart from tokens")
    _check_tools(body.get("tools"), price, counts_runs)
