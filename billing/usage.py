"""Token usage of one request, normalised across providers.

Providers disagree on what "input tokens" means: OpenAI's prompt_tokens includes cached
tokens, Anthropic's input_tokens excludes cache reads and writes. Everything downstream
(pricing, quotas, the ledger) sees only this normalised form, where the four input fields
are disjoint and output_tokens already includes reasoning tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

UsageSource = Literal["provider", "counted"]
ToolRuns = tuple[tuple[str, int], ...]  # (built-in tool item type, runs), sorted by type


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


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _detail(obj: dict[str, object], key: str, field: str) -> int:
    details = obj.get(key)
    return _int(details.get(field)) if isinstance(details, dict) else 0


def usage_from_openai(obj: dict[str, object]) -> Usage:
    """Chat, completions and embeddings usage objects (cached and reasoning details too).

    The Responses API spells the same fields input_tokens/output_tokens with
    input_tokens_details/output_tokens_details, so both spellings are read; DeepSeek reports
    its cache hits as a top-level prompt_cache_hit_tokens.
    """
    prompt = _int(obj.get("prompt_tokens", obj.get("input_tokens")))
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
        output_tokens=_int(obj.get("completion_tokens", obj.get("output_tokens"))),
        reasoning_tokens=reasoning,
    )


def usage_from_anthropic(obj: dict[str, object]) -> Usage:
    """Anthropic Messages usage; its input_tokens already excludes cache reads and writes."""
    return Usage(
        input_tokens=_int(obj.get("input_tokens")),
        cached_input_tokens=_int(obj.get("cache_read_input_tokens")),
        cache_write_tokens=_int(obj.get("cache_creation_input_tokens")),
        output_tokens=_int(obj.get("output_tokens")),
    )
