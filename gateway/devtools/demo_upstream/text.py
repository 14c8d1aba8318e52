"""What the demo "model" says and how many tokens that costs: pure functions, no I/O.

The reply is a deterministic echo of the last user message, so tests can predict it and a
newcomer running `meterway dev` sees their own words come back through the gateway.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gateway.devtools.demo_upstream.control import CountTokens

ECHO_WORDS = 20
SIGN_OFF = "This is the Meterway demo upstream."


@dataclass(frozen=True, slots=True)
class Reply:
    """The text to send and its honest token counts under the configured counter."""

    text: str
    truncated: bool
    prompt_tokens: int
    completion_tokens: int


def content_text(content: Any) -> str:
    """Text of a message `content`: a string, or a list of parts with type "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def last_user_text(body: dict[str, Any]) -> str:
    """The newest user message of a chat or Messages request ("" if none)."""
    for message in reversed(_messages(body)):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def prompt_text(body: dict[str, Any]) -> str:
    """Everything billed as input: system prompt plus every message's text, in order."""
    parts = [content_text(body.get("system"))]
    parts.extend(content_text(m.get("content")) for m in _messages(body))
    return "\n".join(p for p in parts if p)


def completion_prompt(body: dict[str, Any]) -> str:
    """The legacy completions `prompt`: a string or the first of a list of strings."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0]
    return prompt if isinstance(prompt, str) else ""


def demo_reply(user_text: str) -> str:
    """The deterministic answer: an echo of the first few words plus a sign-off."""
    words = user_text.split()
    if not words:
        return f"Hello! {SIGN_OFF}"
    echo = " ".join(words[:ECHO_WORDS])
    return f"You said: {echo}. {SIGN_OFF}"


def fit_to_budget(text: str, max_tokens: int | None, counter: CountTokens) -> tuple[str, bool]:
    """Cut `text` at a word boundary so it costs at most `max_tokens`; True if it was cut."""
    if max_tokens is None or counter(text) <= max_tokens:
        return text, False
    words = text.split(" ")
    kept = 0
    while kept < len(words) and counter(" ".join(words[: kept + 1])) <= max_tokens:
        kept += 1
    return " ".join(words[:kept]), True


def plan_reply(prompt: str, text: str, max_tokens: int | None, counter: CountTokens) -> Reply:
    """Truncate the reply to the budget and count both sides with the same counter."""
    fitted, truncated = fit_to_budget(text, max_tokens, counter)
    return Reply(fitted, truncated, counter(prompt), counter(fitted))


def max_tokens_of(body: dict[str, Any], *keys: str) -> int | None:
    """The first whole-number budget among `keys` (e.g. max_completion_tokens, max_tokens)."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def split_chunks(text: str, count: int) -> list[str]:
    """`count` near-equal slices that concatenate to `text` (fewer if the text is shorter)."""
    count = max(1, min(count, len(text)))
    if not text:
        return []
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def embedding_vector(item: str, dimensions: int) -> list[float]:
    """A stable pseudo-embedding in [-1, 1] derived from a hash of the input."""
    digest = hashlib.sha256(item.encode()).digest()
    while len(digest) < dimensions:
        digest += hashlib.sha256(digest).digest()
    return [round(b / 127.5 - 1.0, 4) for b in digest[:dimensions]]
