"""Each catalogue model's maximum output tokens, from its provider's model page.

The price catalogue (genai-prices) gives a model's context window but not its output cap, and
a context window is no output cap: a 1,050,000-token window reserved as output is larger than
most plans' minute. So the caps live here, each with the page it was read from; a model not
listed has no known cap, and a request naming none is sent with the gateway's default
(DEFAULT_MAX_OUTPUT_TOKENS) as an explicit cap, so its hold still bounds its debit. An
operator overrides any of them with `max_output_tokens` in pricing.toml.

Keys are catalogue model ids (the catalogue matches dated snapshots to them); a model served
by several catalogue providers (Claude on Vertex) has the same cap under each.
"""

from __future__ import annotations

from typing import Final

OPENAI: Final = "https://platform.openai.com/docs/models/"
ANTHROPIC: Final = "https://docs.anthropic.com/en/docs/about-claude/models/overview"
GOOGLE: Final = "https://ai.google.dev/gemini-api/docs/models"
DEEPSEEK: Final = "https://api-docs.deepseek.com/quick_start/pricing"

# model id -> (maximum output tokens, where the number was read)
OUTPUT_CAPS: Final[dict[str, tuple[int, str]]] = {
    # OpenAI: "Max output tokens" on each model's page
    "gpt-3.5-turbo": (4096, OPENAI + "gpt-3.5-turbo"),
    "gpt-3.5-turbo-0613": (4096, OPENAI + "gpt-3.5-turbo"),
    "gpt-3.5-turbo-1106": (4096, OPENAI + "gpt-3.5-turbo"),
    "gpt-3.5-turbo-16k": (4096, OPENAI + "gpt-3.5-turbo"),
    "gpt-3.5-turbo-instruct": (4096, OPENAI + "gpt-3.5-turbo-instruct"),
    "gpt-4": (8192, OPENAI + "gpt-4"),
    "gpt-4-turbo": (4096, OPENAI + "gpt-4-turbo"),
    "gpt-4-vision-preview": (4096, OPENAI + "gpt-4-turbo"),
    "gpt-4o": (16384, OPENAI + "gpt-4o"),
    "gpt-4o-2024-05-13": (4096, OPENAI + "gpt-4o"),
    "chatgpt-4o-latest": (16384, OPENAI + "chatgpt-4o-latest"),
    "gpt-4o-mini": (16384, OPENAI + "gpt-4o-mini"),
    "gpt-4o-audio-preview": (16384, OPENAI + "gpt-4o-audio-preview"),
    "gpt-4o-mini-audio-preview": (16384, OPENAI + "gpt-4o-mini-audio-preview"),
    "gpt-4o-search-preview": (16384, OPENAI + "gpt-4o-search-preview"),
    "gpt-audio": (16384, OPENAI + "gpt-audio"),
    "gpt-audio-mini": (16384, OPENAI + "gpt-audio-mini"),
    # Realtime: "Max output tokens 4,096" on each model's page; a Realtime response is held
    # for this many, not the 32,768 a model with no cap is held for.
    "gpt-realtime": (4096, OPENAI + "gpt-realtime"),
    "gpt-realtime-mini": (4096, OPENAI + "gpt-realtime-mini"),
    "gpt-4o-realtime-preview": (4096, OPENAI + "gpt-4o-realtime-preview"),
    "gpt-4o-mini-realtime-preview": (4096, OPENAI + "gpt-4o-mini-realtime-preview"),
    "gpt-4.1": (32768, OPENAI + "gpt-4.1"),
    "gpt-4.1-mini": (32768, OPENAI + "gpt-4.1-mini"),
    "gpt-4.1-nano": (32768, OPENAI + "gpt-4.1-nano"),
    "gpt-4.5-preview": (16384, OPENAI + "gpt-4.5-preview"),
    "o1": (100000, OPENAI + "o1"),
    "o1-mini": (65536, OPENAI + "o1-mini"),
    "o1-preview": (32768, OPENAI + "o1-preview"),
    "o1-pro": (100000, OPENAI + "o1-pro"),
    "o3": (100000, OPENAI + "o3"),
    "o3-mini": (100000, OPENAI + "o3-mini"),
    "o3-pro": (100000, OPENAI + "o3-pro"),
    "o3-deep-research": (100000, OPENAI + "o3-deep-research"),
    "o4-mini": (100000, OPENAI + "o4-mini"),
    "o4-mini-deep-research": (100000, OPENAI + "o4-mini-deep-research"),
    "codex-mini": (100000, OPENAI + "codex-mini-latest"),
    "gpt-5": (128000, OPENAI + "gpt-5"),
    "gpt-5-mini": (128000, OPENAI + "gpt-5-mini"),
    "gpt-5-nano": (128000, OPENAI + "gpt-5-nano"),
    "gpt-5-pro": (272000, OPENAI + "gpt-5-pro"),
    "gpt-5.1": (128000, OPENAI + "gpt-5.1"),
    "gpt-5.1-codex-mini": (128000, OPENAI + "gpt-5.1-codex-mini"),
    "gpt-oss-120b": (131072, OPENAI + "gpt-oss-120b"),
    "gpt-oss-20b": (131072, OPENAI + "gpt-oss-20b"),
    # Anthropic: "Max output" in the models overview's comparison table
    "claude-2": (4096, ANTHROPIC),
    "claude-3-haiku": (4096, ANTHROPIC),
    "claude-3-sonnet": (4096, ANTHROPIC),
    "claude-3-opus": (4096, ANTHROPIC),
    "claude-3-opus-latest": (4096, ANTHROPIC),
    "claude-3-5-haiku": (8192, ANTHROPIC),
    "claude-3-5-haiku-latest": (8192, ANTHROPIC),
    "claude-3-5-sonnet": (8192, ANTHROPIC),
    "claude-3-7-sonnet": (64000, ANTHROPIC),
    "claude-3-7-sonnet-latest": (64000, ANTHROPIC),
    "claude-sonnet-4-0": (64000, ANTHROPIC),
    "claude-4-sonnet": (64000, ANTHROPIC),
    "claude-opus-4-0": (32000, ANTHROPIC),
    "claude-4-opus": (32000, ANTHROPIC),
    "claude-opus-4-1": (32000, ANTHROPIC),
    "claude-sonnet-4-5": (64000, ANTHROPIC),
    "claude-haiku-4-5": (64000, ANTHROPIC),
    "claude-opus-4-5": (64000, ANTHROPIC),
    # Google: "Output token limit" on each model's card
    "gemini-1.5-flash": (8192, GOOGLE + "#gemini-1.5-flash"),
    "gemini-1.5-pro": (8192, GOOGLE + "#gemini-1.5-pro"),
    "gemini-2.0-flash": (8192, GOOGLE + "#gemini-2.0-flash"),
    "gemini-2.0-flash-lite": (8192, GOOGLE + "#gemini-2.0-flash-lite"),
    "gemini-2.5-flash": (65536, GOOGLE + "#gemini-2.5-flash"),
    "gemini-2.5-flash-preview": (65536, GOOGLE + "#gemini-2.5-flash"),
    "gemini-2.5-flash-lite": (65536, GOOGLE + "#gemini-2.5-flash-lite"),
    "gemini-2.5-pro": (65536, GOOGLE + "#gemini-2.5-pro"),
    "gemini-2.5-flash-image": (32768, GOOGLE + "#gemini-2.5-flash-image"),
    "gemini-3-pro-preview": (65536, GOOGLE + "#gemini-3-pro"),
    # DeepSeek: "MAX OUTPUT" in the models and pricing table
    "deepseek-chat": (8192, DEEPSEEK),
    "deepseek-reasoner": (64000, DEEPSEEK),
}


def output_cap(model_id: str) -> int:
    """The catalogue model's maximum output tokens; 0 when no source gives one."""
    found = OUTPUT_CAPS.get(model_id)
    return found[0] if found else 0
