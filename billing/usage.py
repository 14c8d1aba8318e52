"""Token usage of one request, normalised across providers.

Providers disagree on what "input tokens" means: OpenAI's prompt_tokens includes cached
tokens, Anthropic's input_tokens excludes cache reads and writes. Everything downstream
(pricing, quotas, the ledger) sees only this normalised form, where the four input fields
are disjoint and output_tokens already includes reasoning tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from billing.quick import quick_init

UsageSource = Literal["provider", "counted"]
ToolRuns = tuple[tuple[str, int], ...]  # (built-in tool item type, runs), sorted by type


@quick_init
@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    source: UsageSource = "provider"
    tool_runs: ToolRuns = ()  # built-in tools that ran (web_search_call, ...), priced per run
    service_tier: str = ""  # the tier the provider says served it; "" means its default

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


class _Malformed(ValueError):
    """A usage field that is not a whole number of tokens in range."""


def _int(value: object, *, required: bool = False) -> int:
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_USAGE_TOKENS:
        raise _Malformed(value)
    return value


def _detail(obj: dict[str, object], key: str, field: str) -> int:
    details = obj.get(key)
    if details is None:
        return 0
    if not isinstance(details, dict):
        raise _Malformed(details)
    return _int(details.get(field))


def _absent(provider: str, obj: object) -> Usage | None:
    log.warning("malformed %s usage treated as absent (tokens counted): %.300r", provider, obj)
    return None


def usage_from_openai(obj: dict[str, object], *, output_required: bool = True) -> Usage | None:
    """Chat, completions and embeddings usage objects (cached and reasoning details too).

    The Responses API spells the same fields input_tokens/output_tokens with
    input_tokens_details/output_tokens_details, so both spellings are read; DeepSeek reports
    its cache hits as a top-level prompt_cache_hit_tokens. Usage that fails validation (a
    missing count, a negative, a float, a string, a figure over MAX_USAGE_TOKENS) is None:
    the caller counts the tokens itself rather than bill a made-up zero.
    """
    try:
        return _openai(obj, output_required)
    except _Malformed:
        return _absent("OpenAI-wire", obj)


def _openai(obj: dict[str, object], output_required: bool) -> Usage:
    prompt = _int(obj.get("prompt_tokens", obj.get("input_tokens")), required=True)
    output = obj.get("completion_tokens", obj.get("output_tokens"))
    cached = (
        _detail(obj, "prompt_tokens_details", "cached_tokens")
        or _detail(obj, "input_tokens_details", "cached_tokens")
        or _int(obj.get("prompt_cache_hit_tokens"))
    )
    written = _detail(obj, "input_tokens_details", "cache_write_tokens")
    reasoning = _detail(obj, "completion_tokens_details", "reasoning_tokens") or _detail(
        obj, "output_tokens_details", "reasoning_tokens"
    )
    cached = min(cached, prompt)
    written = min(written, prompt - cached)
    return Usage(
        input_tokens=prompt - cached - written,
        cached_input_tokens=cached,
        cache_write_tokens=written,
        output_tokens=_int(output, required=output_required),
        reasoning_tokens=reasoning,
    )


def usage_from_anthropic(obj: dict[str, object]) -> Usage | None:
    """Anthropic Messages usage; its input_tokens already excludes cache reads and writes.

    input_tokens and output_tokens are required; malformed usage is None, as for OpenAI."""
    try:
        return Usage(
            input_tokens=_int(obj.get("input_tokens"), required=True),
            cached_input_tokens=_int(obj.get("cache_read_input_tokens")),
            cache_write_tokens=_int(obj.get("cache_creation_input_tokens")),
            output_tokens=_int(obj.get("output_tokens"), required=True),
        )
    except _Malformed:
        return _absent("Anthropic", obj)
