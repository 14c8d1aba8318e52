"""The debit where clients read usage: `"cost_micros": N` added to an answer's usage object.

The provider's bytes are kept: the field is spliced in just before the usage object's closing
brace, so its formatting, key order and numbers reach the client as the provider wrote them.
Finding that brace needs only strings and brackets, each matched by one regex (a long string
is skipped in C); nothing else of the JSON is read.
"""

from __future__ import annotations

import re

from gateway.llm.sse import SSEEvent

COST_FIELD = "cost_micros"
# A JSON string (escapes included) or a bracket: all a walk through nesting has to see.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]', re.DOTALL)
_SPACE = b" \t\r\n"
_OBJECT_VALUE = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\{")
_QUOTE, _OPEN_OBJ, _OPEN_ARR, _BACKSLASH = ord('"'), ord("{"), ord("["), ord("\\")


def _skip_space(raw: bytes, at: int) -> int:
    while at < len(raw) and raw[at] in _SPACE:
        at += 1
    return at


def _member(raw: bytes, start: int, key: bytes) -> int:
    """Where the value of `key` starts in the object opening at `start`, or -1."""
    depth = 0
    for token in _TOKEN.finditer(raw, start):
        first = raw[token.start()]
        if first == _QUOTE:
            if depth == 1 and token.group() == key:
                colon = _skip_space(raw, token.end())
                if raw[colon : colon + 1] == b":":
                    return _skip_space(raw, colon + 1)
            continue
        depth += 1 if first in (_OPEN_OBJ, _OPEN_ARR) else -1
        if depth == 0:
            return -1
    return -1


def _closing(raw: bytes, start: int) -> int:
    """The index of the bracket closing the one at `start`, or -1 if it never closes."""
    depth = 0
    for token in _TOKEN.finditer(raw, start):
        first = raw[token.start()]
        if first != _QUOTE:
            depth += 1 if first in (_OPEN_OBJ, _OPEN_ARR) else -1
            if depth == 0:
                return token.start()
    return -1


def _ends_top_level(raw: bytes, after: int) -> bool:
    """Whether what follows `after` closes one object and then `raw` ends."""
    depth = 1
    for token in _TOKEN.finditer(raw, after):
        first = raw[token.start()]
        if first != _QUOTE:
            depth += 1 if first in (_OPEN_OBJ, _OPEN_ARR) else -1
            if depth == 0:
                return not raw[token.end() :].strip(_SPACE)
    return False


def _last_member(raw: bytes, key: bytes) -> int:
    """The fast way to a top-level member, which providers write last or nearly: where the
    object after the last `key` opens, if the rest of `raw` then closes the top level; else -1.

    A quote no backslash escapes cannot sit inside a string unless it ends one, and a key
    cannot follow a string's end, so such a match is a key; its depth is what the rest says."""
    at = raw.rfind(key)
    escapes = 0
    while at - escapes > 0 and raw[at - escapes - 1] == _BACKSLASH:
        escapes += 1
    found = _OBJECT_VALUE.match(raw, at + len(key)) if at > 0 and escapes % 2 == 0 else None
    if found is None:
        return -1
    value = found.end() - 1
    close = _closing(raw, value)
    return value if close >= 0 and _ends_top_level(raw, close + 1) else -1


def _find(raw: bytes, path: tuple[str, ...]) -> int:
    """Where the object at `path` opens in the JSON object `raw`, or -1."""
    keys = [b'"' + name.encode() + b'"' for name in path]
    if len(keys) == 1 and (fast := _last_member(raw, keys[0])) >= 0:
        return fast
    at = _skip_space(raw, 0)
    for key in keys:
        if raw[at : at + 1] != b"{":
            return -1
        at = _member(raw, at, key)
        if at < 0:
            return -1
    return at if raw[at : at + 1] == b"{" else -1


def with_cost(raw: bytes, path: tuple[str, ...], cost: int) -> bytes | None:
    """`raw` (a JSON object) with `cost_micros` added to the object at `path`; None if there
    is no object there (an answer without usage is left as it is)."""
    at = _find(raw, path)
    if at < 0:
        return None
    close = _closing(raw, at)
    if close < 0:
        return None
    last = close - 1
    while raw[last] in _SPACE:
        last -= 1
    field = b'"%s":%d' % (COST_FIELD.encode(), cost)
    if raw[last] != _OPEN_OBJ:
        field = b"," + field
    return raw[: last + 1] + field + raw[last + 1 :]


def costed_answer(raw: bytes, cost: int) -> bytes:
    """A JSON answer with its debit in its top-level `usage` (every route puts usage there);
    as it came when it has none."""
    costed = with_cost(raw, ("usage",), cost)
    return raw if costed is None else costed


def costed_event(event: SSEEvent, path: tuple[str, ...], cost: int) -> bytes:
    """The event's bytes with `cost_micros` in its usage; its own bytes if it has none there.

    Rebuilt from its name and data: the data lines keep their split (a JSON string cannot
    hold a line break, so the splice never lands across one)."""
    data = with_cost(event.data.encode(), path, cost)
    if data is None:
        return event.raw
    head = b"" if event.event is None else b"event: " + event.event.encode() + b"\n"
    lines = b"".join(b"data: " + line + b"\n" for line in data.split(b"\n"))
    return head + lines + b"\n"
