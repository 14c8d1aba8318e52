"""The client's say over the cache, read from its request headers.

`Cache-Control: no-cache` means "do not answer me from the cache" (the answer may still be
stored); `no-store` means "neither read nor store". `x-meterway-cache-ttl` asks for an
entry's lifetime in whole seconds, clamped to the operator's maximum; `0` stores nothing.
A malformed TTL is the client's mistake and is refused naming the header (the gateway
answers 400 with it). Cache-Control is read as RFC 9111 writes it: comma-separated
directives, names case-insensitive, optional whitespace, arguments as tokens or quoted
strings, unknown directives ignored. A Cache-Control whose quoted string never ends cannot
be read for sure, so it is taken as `no-store`: the safe reading of an unclear wish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

TTL_HEADER = "x-meterway-cache-ttl"
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_DIRECTIVE = re.compile(rf"\s*({_TOKEN})\s*(?:=\s*(?:{_TOKEN}|\"(?:[^\"\\]|\\.)*\")\s*)?")
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"")
_TTL = re.compile(r"[0-9]+")
_MOST_DIGITS = 18  # longer is past any maximum; int() of a huge string is never tried


class CacheControlError(ValueError):
    """A client's cache header cannot be read; `header` names it."""

    def __init__(self, header: str, message: str) -> None:
        super().__init__(f"{header}: {message}")
        self.header = header


@dataclass(frozen=True, slots=True)
class CacheControls:
    """What the client allows: `no_cache` (do not read), `no_store` (neither read nor
    store), and the entry's lifetime."""

    no_cache: bool
    no_store: bool
    ttl_s: int

    @property
    def reads(self) -> bool:
        return not (self.no_cache or self.no_store)

    @property
    def stores(self) -> bool:
        return not self.no_store and self.ttl_s > 0


def read_controls(
    cache_control: str | None, ttl_header: str | None, max_ttl_s: int
) -> CacheControls:
    """The client's controls, the TTL clamped to `max_ttl_s` (the operator's maximum, also
    the TTL when the client names none). Several Cache-Control lines are one value joined
    with commas, as HTTP defines them."""
    if max_ttl_s <= 0:
        raise ValueError(f"the operator's maximum cache TTL must be positive: {max_ttl_s}")
    directives = cache_directives(cache_control or "")
    no_store = directives is None or "no-store" in directives
    no_cache = no_store or "no-cache" in (directives or ())
    return CacheControls(no_cache, no_store, read_ttl(ttl_header, max_ttl_s))


def cache_directives(value: str) -> frozenset[str] | None:
    """The directive names of a Cache-Control value, lower-cased; None when a quote is left
    open. An element that is not a directive is skipped, as an unknown one is."""
    masked = _QUOTED.sub(lambda quoted: "_" * len(quoted[0]), value)
    if '"' in masked:
        return None
    cuts = [-1, *(at for at, char in enumerate(masked) if char == ","), len(value)]
    elements = (value[start + 1 : end] for start, end in pairwise(cuts))
    found = (_DIRECTIVE.fullmatch(element) for element in elements)
    return frozenset(match[1].lower() for match in found if match is not None)


def read_ttl(value: str | None, max_ttl_s: int) -> int:
    """The TTL a client asked for, in whole seconds within 0..max_ttl_s; absent, the max.
    Only ASCII digits are read: a sign, a fraction or an exponent is refused."""
    if value is None:
        return max_ttl_s
    digits = value.strip(" \t")
    if _TTL.fullmatch(digits) is None:
        raise CacheControlError(TTL_HEADER, f"not a whole number of seconds: {value!r}")
    digits = digits.lstrip("0") or "0"
    return max_ttl_s if len(digits) > _MOST_DIGITS else min(int(digits), max_ttl_s)
