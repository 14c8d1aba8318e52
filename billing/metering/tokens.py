# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Token counts of requests and streamed replies: the walk over each wire shape's prompt.

Counts are used to reserve quota before a request and to bill when a provider reports no
usage; where the wire format of a prompt is undocumented (tools, images, Anthropic), the
count is a deliberate estimate. The walk counts each text through an encoder: the real
encoding (billing.metering.encodings), a byte bound, or the account's kept counts
(billing.metering.token_cache).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import tiktoken

from billing.metering.encodings import ENCODING_NAMES, count_tokens, load_encoding
from billing.metering.token_cache import Allowance, CachedEncoding, CountCache, ProbeEncoding
from billing.names import one_of

# OpenAI cookbook ("How to count tokens with tiktoken"): every message is wrapped in
# <|start|>{role/name}\n{content}<|end|>\n, and every reply is primed with <|start|>assistant.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
# OpenAI tiles: an image is fitted in 2048x2048, then its short side scaled to 768, so a
# high-detail image is at most 2x4 tiles of 512px: 85 + 8 x 170 tokens. Patch-based models
# (gpt-4.1-mini, o4-mini) cap at 1536 patches times a multiplier up to 2.46, so a single bound
# that covers both is 3,800; models that multiply further (gpt-4o-mini) set their own bound
# (`image_max_tokens` in pricing.toml). Reserving the bound never under-reserves.
IMAGE_PART_TOKENS = 3800
# Anthropic charges about width*height/750; ~1600 is the documented cost of an image that
# needs no resizing, so an estimate made for reserving quota errs on the high side.
ANTHROPIC_IMAGE_TOKENS = 1600

_IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})


@dataclass(frozen=True, slots=True)
class ByteBound:
    """Stands in for an encoding to bound a count without tokenizing. A BPE token is at least
    one byte and at most the vocabulary's longest token (`longest` bytes), so a text of b
    UTF-8 bytes has between ceil(b / longest) and b tokens: `ByteBound(longest)` gives the
    lower bound, `ByteBound(1)` the upper. Counted through the same request walk as the real
    encoding (overheads, flat image costs, token-id lists), the whole count is bounded too."""

    longest: int

    def count(self, text: str) -> int:
        return -(-len(text.encode("utf-8", "surrogatepass")) // self.longest)


Encoder = tiktoken.Encoding | ByteBound | CachedEncoding


def _n(enc: Encoder, text: str) -> int:
    """Every text of a request is counted here, by whichever encoder the counter uses."""
    if isinstance(enc, tiktoken.Encoding):
        return count_tokens(enc, text)
    return enc.count(text)


def _json_tokens(enc: Encoder, value: object) -> int:
    """Unknown shapes still cost something, so nothing a client sends is free."""
    return _n(enc, json.dumps(value, ensure_ascii=False, default=str))


def _function_tokens(enc: Encoder, fn: object) -> int:
    if isinstance(fn, dict):
        name, arguments = fn.get("name"), fn.get("arguments")
        if isinstance(name, str) and isinstance(arguments, str):
            return _n(enc, name) + _n(enc, arguments)
    return _json_tokens(enc, fn)


def _tool_call_tokens(enc: Encoder, call: object) -> int:
    if isinstance(call, dict) and "function" in call:
        return _function_tokens(enc, call["function"])
    return _json_tokens(enc, call)


def _part_tokens(enc: Encoder, part: object, image_tokens: int) -> int:
    """Text parts by their text, images at a flat rate, anything else by its JSON."""
    if isinstance(part, str):
        return _n(enc, part)
    if isinstance(part, dict):
        kind = part.get("type")
        text = part.get(kind) if kind in ("text", "thinking") else None
        if isinstance(text, str):
            return _n(enc, text)
        if one_of(kind, _IMAGE_PART_TYPES):
            return image_tokens
    return _json_tokens(enc, part)


def _chat_value_tokens(enc: Encoder, key: str, value: object, image_tokens: int) -> int:
    """A message value that is not a string (those are counted by the caller)."""
    if value is None:
        return 0
    if key == "content" and isinstance(value, list):
        return sum(_part_tokens(enc, part, image_tokens) for part in value)
    if key == "tool_calls" and isinstance(value, list):
        return sum(_tool_call_tokens(enc, call) for call in value)
    if key == "function_call":
        return _function_tokens(enc, value)
    return _json_tokens(enc, value)


def _chat_message_tokens(enc: Encoder, message: object, image_tokens: int) -> int:
    # dict first: the Mapping check goes through ABCMeta's Python-level __instancecheck__
    if not isinstance(message, dict) and not isinstance(message, Mapping):
        return TOKENS_PER_MESSAGE + _json_tokens(enc, message)
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if isinstance(value, str):  # most values (role, content), counted without a dispatch
            total += _n(enc, value)
        else:
            total += _chat_value_tokens(enc, str(key), value, image_tokens)
        if key == "name":
            total += TOKENS_PER_NAME
    return total


def _anthropic_block_tokens(enc: Encoder, block: object, nested: bool) -> int:
    if isinstance(block, dict) and not nested:
        kind, name = block.get("type"), block.get("name")
        if kind == "tool_use" and isinstance(name, str):
            return _n(enc, name) + _json_tokens(enc, block.get("input"))
        if kind == "tool_result":
            return _anthropic_content_tokens(enc, block.get("content"), nested=True)
    return _part_tokens(enc, block, ANTHROPIC_IMAGE_TOKENS)


def _anthropic_content_tokens(enc: Encoder, content: object, nested: bool = False) -> int:
    """Tool results may hold only plain blocks, so crafted nesting cannot recurse deeply."""
    if content is None:
        return 0
    if isinstance(content, list):
        return sum(_anthropic_block_tokens(enc, block, nested) for block in content)
    return _part_tokens(enc, content, ANTHROPIC_IMAGE_TOKENS)


def _anthropic_message_tokens(enc: Encoder, message: object) -> int:
    if not isinstance(message, Mapping):
        return TOKENS_PER_MESSAGE + _json_tokens(enc, message)
    role = message.get("role")
    role_tokens = _n(enc, role) if isinstance(role, str) else 0
    return TOKENS_PER_MESSAGE + role_tokens + _anthropic_content_tokens(enc, message.get("content"))


def _input_tokens(enc: Encoder, value: object) -> int:
    """Strings, lists of strings, token ids, or lists of token-id lists (OpenAI's input forms)."""
    return sum(
        _input_item_tokens(enc, item) for item in (value if isinstance(value, list) else [value])
    )


def _input_item_tokens(enc: Encoder, item: object) -> int:
    if isinstance(item, int):
        return 1
    if isinstance(item, str):
        return _n(enc, item)
    if isinstance(item, list) and all(isinstance(token, int) for token in item):
        return len(item)
    return _json_tokens(enc, item)


PromptInput = str | list[str] | list[int] | list[list[int]]


class TokenCounter:
    """One per app (on an AppKey): loads encodings on first use, then counts request shapes.

    Request bodies arrive unvalidated, so every count accepts odd JSON shapes without raising;
    what it cannot interpret it counts as its JSON text.
    """

    def __init__(self, cache: CountCache | None = None) -> None:
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._longest: dict[str, int] = {}
        self._lock = threading.Lock()
        self.cache = cache or CountCache()

    def encoding(self, name: str) -> tiktoken.Encoding:
        """Loading blocks for ~0.3 s per encoding: `preload` off the event loop at start-up."""
        enc = self._encodings.get(name)
        if enc is None:
            with self._lock:  # a preload in a worker thread and a request may race
                enc = self._encodings[name] = load_encoding(name)
        return enc

    def preload(self, names: Sequence[str] = ENCODING_NAMES) -> None:
        for name in names:
            self.encoding(name)

    def _encoder(self, name: str) -> Encoder:
        """What the prompt counts below tokenize with: the real encoding here."""
        return self.encoding(name)

    def longest_token_bytes(self, name: str) -> int:
        """The vocabulary's longest token in bytes (ordinary tokens: specials are never
        produced by the counts here); computed once per encoding."""
        longest = self._longest.get(name)
        if longest is None:
            values = self.encoding(name).token_byte_values()
            longest = self._longest[name] = max(map(len, values))
        return longest

    def for_account(self, account_id: str, new_bytes: int | None = None) -> TokenCounter:
        """This counter, keeping counts of long texts for one account (CountCache): what a
        proxied request is counted with. `new_bytes`: tokenize at most that much text not
        counted before, else raise NewTextOverBudget (kept counts cost only a lookup)."""
        return _AccountCounter(
            self, account_id, None if new_bytes is None else Allowance(new_bytes)
        )

    def probe(self, account_id: str, new_bytes: int) -> TokenCounter:
        """A counter that tokenizes nothing: walking a request through it raises
        NewTextOverBudget when counting it for the account (`for_account(account_id,
        new_bytes)`) would tokenize more than `new_bytes` of text not kept. It only looks
        kept counts up (no use recorded, nothing kept), so a body with too much new text
        costs a lookup per text before its floor check, not a byte's tokenizing each.
        Its counts mean nothing."""
        return _ProbeCounter(self, account_id, Allowance(new_bytes))

    def floor(self) -> TokenCounter:
        """A counter whose prompt counts are a lower bound of this one's, from byte lengths
        alone: far cheaper than tokenizing, so a request can be refused before any
        tokenizing when even its floor cannot be afforded (README, "Before tokenizing")."""
        return _FloorCounter(self)

    def count_text(self, encoding: str, text: str) -> int:
        """Special-token text counts as plain text: a client must not be able to make us raise."""
        return _n(self._encoder(encoding), text)

    def count_chat_prompt(
        self,
        encoding: str,
        messages: Sequence[Mapping[str, object]],
        image_tokens: int = IMAGE_PART_TOKENS,
    ) -> int:
        """OpenAI cookbook formula; `tools` in the request are not messages: count them apart.

        Each image counts `image_tokens`, the model's upper bound for one image."""
        enc = self._encoder(encoding)
        return REPLY_PRIMING_TOKENS + sum(
            _chat_message_tokens(enc, m, image_tokens) for m in messages
        )

    def count_completion_prompt(self, encoding: str, prompt: PromptInput) -> int:
        """Token-id prompts count their length: the provider bills exactly those ids."""
        return _input_tokens(self._encoder(encoding), prompt)

    def count_embedding_input(self, encoding: str, input: PromptInput) -> int:
        return _input_tokens(self._encoder(encoding), input)

    def count_anthropic_prompt(
        self,
        encoding: str,
        system: str | Sequence[object] | None,
        messages: Sequence[Mapping[str, object]],
    ) -> int:
        """An estimate with an OpenAI tokenizer and chat overheads: Anthropic's is private."""
        enc = self._encoder(encoding)
        total = REPLY_PRIMING_TOKENS + sum(_anthropic_message_tokens(enc, m) for m in messages)
        if system:
            total += TOKENS_PER_MESSAGE + _anthropic_content_tokens(enc, system)
        return total

    def completion_counter(self, encoding: str) -> CompletionTextCounter:
        return CompletionTextCounter(self.encoding(encoding))


class _FloorCounter(TokenCounter):
    """Prompt counts at ceil(bytes / longest token) per text: never above the real count."""

    def __init__(self, real: TokenCounter) -> None:
        super().__init__(real.cache)
        self._inner = real  # not `_real`: mypyc's C field `__real` is a GCC keyword

    def _encoder(self, name: str) -> Encoder:
        return ByteBound(self._inner.longest_token_bytes(name))

    def for_account(self, account_id: str, new_bytes: int | None = None) -> TokenCounter:
        return self  # tokenizes nothing: nothing to keep, nothing to spend

    def completion_counter(self, encoding: str) -> CompletionTextCounter:
        return self._inner.completion_counter(encoding)


class _AccountCounter(TokenCounter):
    """The app's counter seen by one account: the same encodings, counts of long texts kept
    in the shared cache under the account's id. Made per request, so it builds nothing."""

    def __init__(  # no super(): a view
        self, real: TokenCounter, account_id: str, allowance: Allowance | None
    ) -> None:
        self._inner = real
        self._account_id = account_id
        self._allowance = allowance
        self.cache = real.cache

    def encoding(self, name: str) -> tiktoken.Encoding:
        return self._inner.encoding(name)

    def _encoder(self, name: str) -> Encoder:
        return CachedEncoding(
            self._inner.encoding(name), self.cache, self._account_id, self._allowance
        )

    def longest_token_bytes(self, name: str) -> int:
        return self._inner.longest_token_bytes(name)

    def for_account(self, account_id: str, new_bytes: int | None = None) -> TokenCounter:
        if account_id == self._account_id and new_bytes is None:
            return self  # read_call scopes what the proxy scoped already
        return self._inner.for_account(account_id, new_bytes)

    def floor(self) -> TokenCounter:
        return self._inner.floor()


class _ProbeCounter(_AccountCounter):
    """The account's view walking a request with a ProbeEncoding (see TokenCounter.probe)."""

    def _encoder(self, name: str) -> Encoder:
        return ProbeEncoding(
            self._inner.encoding(name), self.cache, self._account_id, self._allowance
        )


class CompletionTextCounter:
    """Counts streamed output as one text, since BPE merges across chunk boundaries."""

    __slots__ = ("_encoding", "_parts")

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encoding = encoding
        self._parts: list[str] = []

    def feed(self, text: str) -> None:
        if text:
            self._parts.append(text)

    def count(self) -> int:
        text = "".join(self._parts)
        self._parts = [text] if text else []
        return _n(self._encoding, text)
