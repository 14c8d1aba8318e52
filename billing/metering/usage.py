# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Token usage of one request, normalised across providers.

Providers disagree on what "input tokens" means: OpenAI's prompt_tokens includes cached
tokens, Anthropic's input_tokens excludes cache reads and writes. Everything downstream
(pricing, quotas, the ledger) sees only this normalised form, where the four input fields
are disjoint and output_tokens already includes reasoning tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, Literal, final

from billing.values import Value, replace

UsageSource = Literal["provider", "counted"]
ToolRuns = tuple[tuple[str, int], ...]  # (built-in tool item type, runs), sorted by type


@final
class Usage(Value):
    def __init__(
        self,
        input_tokens: int = 0,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        output_tokens: int = 0,
        reasoning_tokens: int = 0,
        source: UsageSource = "provider",
        tool_runs: ToolRuns = (),
        service_tier: str = "",
        extra: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.input_tokens: Final = input_tokens
        self.cached_input_tokens: Final = cached_input_tokens
        self.cache_write_tokens: Final = cache_write_tokens
        self.output_tokens: Final = output_tokens
        self.reasoning_tokens: Final = reasoning_tokens
        self.source: Final = source
        # Built-in tools that ran (web_search_call, ...), priced per run
        self.tool_runs: Final = tool_runs
        # The tier the provider says served it; "" means its default
        self.service_tier: Final = service_tier
        # Priced parts beyond the fields above, by the catalogue's usage keys, each a part of its
        # general key (cache_write_1h_tokens of cache_write_tokens, input_audio_tokens of input).
        self.extra: Final = extra

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens


# No single request reports more than this many tokens in one field; a larger figure is a
# provider bug (or an attack on the ledger), not usage.
MAX_USAGE_TOKENS = 10**9
log = logging.getLogger("meterway.usage")


class MalformedUsage(ValueError):
    """A usage field that is not a whole number of tokens in range."""


def token_count(value: object, *, required: bool = False) -> int:
    """A provider's token figure: a whole number in range (absent: 0, unless required);
    anything else raises MalformedUsage, so the usage is counted, never billed as made up."""
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_USAGE_TOKENS:
        raise MalformedUsage(value)
    return value


def field_tokens(obj: Mapping[str, object], name: str, *, required: bool = False) -> int:
    """`token_count` of the field `name` of a provider's usage object."""
    return token_count(obj.get(name), required=required)


def _detail(obj: dict[str, object], key: str, field: str) -> int:
    details = obj.get(key)
    if details is None:
        return 0
    if not isinstance(details, dict):
        raise MalformedUsage(details)
    return token_count(details.get(field))


def _absent(provider: str, obj: object) -> Usage | None:
    log.warning("malformed %s usage treated as absent (tokens counted): %.300r", provider, obj)
    return None


# Catalogue providers whose Chat Completions usage counts reasoning tokens outside
# `completion_tokens` (genai-prices' x-ai extractor adds them); OpenAI and the others count
# them inside it.
REASONING_APART = frozenset({"x-ai"})


def usage_from_openai(
    obj: dict[str, object], *, output_required: bool = True, reasoning_apart: bool = False
) -> Usage | None:
    """Chat, completions and embeddings usage objects (cached and reasoning details too).

    The Responses API spells the same fields input_tokens/output_tokens with
    input_tokens_details/output_tokens_details, so both spellings are read; DeepSeek reports
    its cache hits as a top-level prompt_cache_hit_tokens. Reasoning tokens are part of the
    completion (OpenAI's convention, a larger figure capped at it), or with `reasoning_apart`
    (xAI's) added to it. Usage that fails validation (a missing count, a negative, a float,
    a string, a figure over MAX_USAGE_TOKENS) is None: the caller counts the tokens itself
    rather than bill a made-up zero.
    """
    try:
        return _openai(obj, output_required, reasoning_apart)
    except MalformedUsage:
        return _absent("OpenAI-wire", obj)


def _openai(obj: dict[str, object], output_required: bool, reasoning_apart: bool) -> Usage:
    prompt = token_count(obj.get("prompt_tokens", obj.get("input_tokens")), required=True)
    completion = obj.get("completion_tokens", obj.get("output_tokens"))
    output = token_count(completion, required=output_required)
    inp = _details(obj, "prompt_tokens_details", "input_tokens_details")
    out = _details(obj, "completion_tokens_details", "output_tokens_details")
    reasoning = token_count(out.get("reasoning_tokens"))
    if reasoning_apart:
        output += reasoning
    hits = token_count(inp.get("cached_tokens")) or token_count(obj.get("prompt_cache_hit_tokens"))
    cached = min(hits, prompt)
    written = min(token_count(inp.get("cache_write_tokens")), prompt - cached)
    audio_in, image_in = (token_count(inp.get(f)) for f in ("audio_tokens", "image_tokens"))
    audio_out, image_out = (token_count(out.get(f)) for f in ("audio_tokens", "image_tokens"))
    extra: tuple[tuple[str, int], ...] = ()
    if audio_in or image_in or audio_out or image_out:
        extra = _parts(
            ("input_audio_tokens", audio_in, prompt),
            ("input_image_tokens", image_in, prompt),
            ("output_audio_tokens", audio_out, output),
            ("output_image_tokens", image_out, output),
        )
    return Usage(
        input_tokens=prompt - cached - written,
        cached_input_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=min(reasoning, output),
        extra=extra,
    )


_NO_DETAILS: dict[str, object] = {}


def _details(obj: dict[str, object], *keys: str) -> dict[str, object]:
    """The first details object present under `keys` (Chat Completions' spelling, then the
    Responses API's), or none."""
    for key in keys:
        details = obj.get(key)
        if details is not None:
            if not isinstance(details, dict):
                raise MalformedUsage(details)
            return details
    return _NO_DETAILS


def _parts(*parts: tuple[str, int, int]) -> tuple[tuple[str, int], ...]:
    """(usage key, count) of each reported part, never above the whole it is part of."""
    return tuple((key, min(n, whole)) for key, n, whole in parts if n)


DEFAULT_TIERS = frozenset({"default", "standard", "auto"})


def _tier(tier: object) -> str:
    return tier if isinstance(tier, str) and tier not in DEFAULT_TIERS else ""


def with_tier(usage: Usage | None, tier: object) -> Usage | None:
    """The usage with the service tier its answer reports ("default", "standard": none)."""
    if usage is None or not isinstance(tier, str) or not tier or tier in DEFAULT_TIERS:
        return usage
    return replace(usage, service_tier=tier)


def usage_from_anthropic(obj: dict[str, object]) -> Usage | None:
    """Anthropic Messages usage; its input_tokens already excludes cache reads and writes.

    input_tokens and output_tokens are required; malformed usage is None, as for OpenAI.
    1-hour cache writes (`cache_creation.ephemeral_1h_input_tokens`) and server tool uses
    (`server_tool_use.web_search_requests`) are the priced parts beyond the counts."""
    try:
        written = token_count(obj.get("cache_creation_input_tokens"))
        return Usage(
            input_tokens=token_count(obj.get("input_tokens"), required=True),
            cached_input_tokens=token_count(obj.get("cache_read_input_tokens")),
            cache_write_tokens=written,
            output_tokens=token_count(obj.get("output_tokens"), required=True),
            extra=_parts(
                (
                    "cache_write_1h_tokens",
                    _detail(obj, "cache_creation", "ephemeral_1h_input_tokens"),
                    written,
                ),
                (
                    "web_searches",
                    _detail(obj, "server_tool_use", "web_search_requests"),
                    MAX_USAGE_TOKENS,
                ),
            ),
        )
    except MalformedUsage:
        return _absent("Anthropic", obj)
