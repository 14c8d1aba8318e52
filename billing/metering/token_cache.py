# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Token counts of long texts kept per account, and what a count on the event loop may
still tokenize (an Allowance): the counting walk (billing.metering.tokens) asks here before it
tokenizes a text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import tiktoken

from billing.metering.encodings import count_tokens

# Texts at least this long are counted once per account (see CountCache); a shorter one
# costs a few microseconds to tokenize, about what keeping it would.
CACHED_MIN_CHARS = 256
# What the cache holds at most, in characters of text (8-32 MB as CPython stores them).
CACHE_BUDGET_CHARS = 8_000_000


class CountCache:
    """Token counts of long texts, kept per (scope, encoding, text).

    Clients resend what they sent before: every turn of a conversation carries all the earlier
    ones, and an app sends one system prompt with every request. Tokenizing costs the
    event loop time per byte on every turn; with the counts kept it costs a hash of each
    text. A count is a pure function of encoding and text,
    so a kept count is exactly the one tokenizing would give.

    The scope is the account: a count kept for one account is never another's, so how fast a
    request is reserved cannot tell one tenant what text another sent (the timing leak prompt
    caches are scoped against). Bounded by the characters held, oldest use evicted first; a
    text over a sixteenth of the budget is not kept, so no one request empties it. Large
    prompts are counted in worker threads, hence the lock (held only around the dict)."""

    def __init__(
        self, budget_chars: int = CACHE_BUDGET_CHARS, min_chars: int = CACHED_MIN_CHARS
    ) -> None:
        self._entries: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._budget = budget_chars
        self.min_chars = min_chars
        self._largest = budget_chars // 16
        self._held = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def held_chars(self) -> int:
        return self._held

    def holds(self, scope: str, enc: tiktoken.Encoding, text: str) -> bool:
        """Whether a count of `text` is kept, touching nothing (no use recorded, no hit or
        miss counted): what a probe asks, so a request refused after it leaves the cache as
        it found it. One dict lookup, atomic under the GIL: no lock."""
        return (
            self.min_chars <= len(text) <= self._largest
            and (scope, enc.name, text) in self._entries
        )

    def count(
        self, scope: str, enc: tiktoken.Encoding, text: str, allowance: Allowance | None = None
    ) -> int:
        """A kept count, or the text tokenized (and kept if long enough), after `allowance`
        is charged for it: what a count on the event loop may still tokenize."""
        keep = self.min_chars <= len(text) <= self._largest
        if keep:
            key = (scope, enc.name, text)
            with self._lock:
                kept = self._entries.get(key)
                if kept is not None:
                    self._entries.move_to_end(key)
                    self.hits += 1
            if kept is not None:
                if allowance is not None:
                    allowance.walk()
                return kept
        if allowance is not None:
            allowance.spend(text)
        tokens = count_tokens(enc, text)  # outside the lock: other threads keep counting meanwhile
        if not keep:
            return tokens
        with self._lock:
            self.misses += 1
            if key not in self._entries:
                self._entries[key] = tokens
                self._held += len(text)
                while self._held > self._budget:
                    (_, _, old), _ = self._entries.popitem(last=False)
                    self._held -= len(old)
        return tokens


class NewTextOverBudget(Exception):
    """A count met more text it would have to tokenize than its Allowance: the caller counts
    the request where a long count stalls nobody (a worker thread) instead."""


# What walking to one text and looking it up costs the event loop (probe and count
# together), in bytes of tokenizing (docs/performance.md). Charged for every text, kept or
# new: a body of thousands of short kept texts would otherwise pass for free and hold the
# loop.
TEXT_WALK_BYTES = 64


@dataclass(slots=True)
class Allowance:
    """What a count on the event loop may still cost, in bytes of tokenizing: each new text's
    UTF-8 bytes, and TEXT_WALK_BYTES for every text, kept or new. Lets a large body made
    mostly of texts already counted be counted on the event loop, and bounds the loop's time
    whatever the body is made of."""

    left: int

    def spend(self, text: str) -> None:
        """A text to tokenize."""
        self.left -= TEXT_WALK_BYTES + (
            len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        )
        if self.left < 0:
            raise NewTextOverBudget

    def walk(self) -> None:
        """A text whose count is kept."""
        self.left -= TEXT_WALK_BYTES
        if self.left < 0:
            raise NewTextOverBudget


class CachedEncoding:
    """An encoding whose counts of long texts go through the account's share of the cache.
    Made once per count of a request, so a plain class (a frozen dataclass's __init__ costs
    a microsecond), and a short text with no allowance to charge goes straight to tiktoken:
    the bench's small prompts pay what they paid before the cache."""

    __slots__ = ("allowance", "cache", "encoding", "scope")

    def __init__(
        self,
        encoding: tiktoken.Encoding,
        cache: CountCache,
        scope: str,
        allowance: Allowance | None,
    ) -> None:
        self.encoding = encoding
        self.cache = cache
        self.scope = scope
        self.allowance = allowance

    def count(self, text: str) -> int:
        if self.allowance is None and len(text) < self.cache.min_chars:
            return count_tokens(self.encoding, text)
        return self.cache.count(self.scope, self.encoding, text, self.allowance)


class ProbeEncoding(CachedEncoding):
    """Tokenizes nothing: charges the allowance for every text whose count is not kept (as
    a count would before tokenizing it), so walking a request through it raises
    NewTextOverBudget when counting it would tokenize more than the allowance. Its counts
    are 0: only whether the walk raises means anything."""

    __slots__ = ()

    def count(self, text: str) -> int:
        if self.allowance is None:
            return 0
        if self.cache.holds(self.scope, self.encoding, text):
            self.allowance.walk()
        else:
            self.allowance.spend(text)
        return 0
