# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The debit where clients read usage: `"cost_micros": N` added to an answer's usage object.

The provider's bytes are kept: the field is spliced in just before the usage object's
closing brace, so its formatting, key order and numbers reach the client as the provider
wrote them. Providers write usage at the top level, as the last object or nearly: that brace
is found from the last `"usage"` key with a few scans and one parse of the usage object,
each one C call (a fifth of a walk through every token: docs/performance.md). Anywhere else,
that walk through the JSON's strings and brackets finds it.
"""

from __future__ import annotations

import re

import orjson

from gateway.llm.sse import SSEEvent

COST_FIELD = "cost_micros"
# A JSON string (escapes included) or a bracket: all a walk through nesting has to see.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]', re.DOTALL)
_SPACE = b" \t\r\n"
_QUOTE, _OPEN_OBJ, _OPEN_ARR, _BACKSLASH = ord('"'), ord("{"), ord("["), ord("\\")
_CLOSE_OBJ = ord("}")
_OBJECT_VALUE = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*\{")
_FIELD = b',"' + COST_FIELD.encode() + b'":%d'
_KEYS: dict[tuple[str, ...], list[bytes]] = {}  # each path's keys as they are quoted in JSON
_FAST_TRIES = 8  # closing braces tried for the usage object's end (one per nested object)


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


def _solid_before(raw: bytes, at: int) -> int:
    """The index of the last byte at or before `at` that is not a space, or -1."""
    while at >= 0 and raw[at] in _SPACE:
        at -= 1
    return at


def _last_object(raw: bytes, key: bytes) -> int:
    """Where the object after the last `key` closes when it is the top level's last object
    (Anthropic's answers and events, OpenAI's answers and stream chunks; scalar members may
    follow): the last `}` before the top level's own, if the value after that key parses up
    to it; else -1. One parse, of that object alone, and it is proof: an object enclosing
    it, or a brace in a later string, would leave a `}` that the value cannot end on.

    A quote no backslash precedes cannot sit inside a string unless it ends one, and a key
    cannot follow a string's end, so such a match is a key."""
    end = _solid_before(raw, len(raw) - 1)
    close = raw.rfind(b"}", 0, end) if end > 0 and raw[end] == _CLOSE_OBJ else -1
    at = raw.rfind(key, 0, close) if close > 0 else -1
    found = _OBJECT_VALUE.match(raw, at + len(key)) if raw[at - 1] != _BACKSLASH else None
    if found is None or at <= 0:
        return -1
    try:
        orjson.loads(raw[found.end() - 1 : close + 1])
    except orjson.JSONDecodeError:
        return -1
    return close


def _object_end(raw: bytes, start: int) -> int:
    """Where the object opening at `start` closes, or -1: the first `}` after which its
    braces balance, checked by parsing it (a brace in a string would fool the count)."""
    end = raw.find(b"}", start)
    for _ in range(_FAST_TRIES):
        if end < 0:
            return -1
        if raw.count(b"{", start, end) == raw.count(b"}", start, end + 1):
            break
        end = raw.find(b"}", end + 1)
    try:
        orjson.loads(raw[start : end + 1])
    except orjson.JSONDecodeError:
        return -1
    return end


def _ends_top_level(rest: bytes) -> bool:
    """Whether `rest`, what follows a member's value, is more members and the object's end,
    and then the end of `raw`."""
    rest = rest.strip(_SPACE)
    if rest == b"}":
        return True
    try:
        return isinstance(orjson.loads(b"{" + rest.removeprefix(b",")), dict)
    except orjson.JSONDecodeError:
        return False


def _near_end(raw: bytes, key: bytes) -> int:
    """Where the object after the last `key` closes, if what follows it is more members of
    the top level and its end (the Responses API's: `user`, `metadata`); else -1 (the walk
    through every token decides). Every scan here is one C call."""
    at = raw.rfind(key)
    found = _OBJECT_VALUE.match(raw, at + len(key)) if raw[at - 1] != _BACKSLASH else None
    close = -1 if found is None or at <= 0 else _object_end(raw, found.end() - 1)
    return close if close >= 0 and _ends_top_level(raw[close + 1 :]) else -1


def _walk(raw: bytes, keys: list[bytes]) -> int:
    """Where the object at `keys` closes in the JSON object `raw`, or -1: token by token."""
    at = _skip_space(raw, 0)
    for key in keys:
        if raw[at : at + 1] != b"{":
            return -1
        at = _member(raw, at, key)
        if at < 0:
            return -1
    return _closing(raw, at) if raw[at : at + 1] == b"{" else -1


def with_cost(raw: bytes, path: tuple[str, ...], cost: int) -> bytes | None:
    """`raw` (a JSON object) with `cost_micros` added to the object at `path`; None if there
    is no object there (an answer without usage is left as it is)."""
    keys = _KEYS.get(path) or _KEYS.setdefault(path, [b'"%s"' % k.encode() for k in path])
    close = -1
    if len(keys) == 1 and (close := _last_object(raw, keys[0])) < 0:
        close = _near_end(raw, keys[0])
    if close < 0:
        close = _walk(raw, keys)
    if close < 0:
        return None
    last = close - 1
    while raw[last] in _SPACE:
        last -= 1
    field = _FIELD % cost if raw[last] != _OPEN_OBJ else _FIELD[1:] % cost
    return raw[: last + 1] + field + raw[last + 1 :]


def costed_answer(raw: bytes, cost: int, path: tuple[str, ...] = ("usage",)) -> bytes:
    """A JSON answer with its debit in its usage object (top-level `usage` on OpenAI's and
    Anthropic's routes, `usageMetadata` on Gemini's); as it came when it has none."""
    costed = with_cost(raw, path, cost)
    return raw if costed is None else costed


def costed_media(raw: bytes, cost: int) -> bytes:
    """A media answer (images, transcripts) with its debit in its usage object, else, for
    one without usage (dall-e-3's images, whisper-1's text), as a top-level `cost_micros`."""
    costed = with_cost(raw, ("usage",), cost)
    if costed is not None:
        return costed
    end = len(raw.rstrip(_SPACE)) - 1
    if end < 0 or raw[end] != _CLOSE_OBJ:
        return raw
    inner = raw[:end].rstrip(_SPACE)
    field = _FIELD[1:] % cost if inner.endswith(b"{") else _FIELD % cost
    return inner + field + raw[end:]


def costed_event(event: SSEEvent, path: tuple[str, ...], cost: int) -> bytes:
    """The event's bytes with `cost_micros` in its usage; its own bytes if it has none there.

    An event with one data line (every provider's) is spliced where it is; one with several
    is rebuilt from its name and data, the data lines keeping their split (a JSON string
    cannot hold a line break, so the splice never lands across one)."""
    head, field, data = event.raw.partition(b"data:")
    if field and b"data:" not in data:
        spliced = with_cost(data, path, cost)
        return event.raw if spliced is None else head + field + spliced
    rebuilt = with_cost(event.data.encode(), path, cost)
    if rebuilt is None:
        return event.raw
    name = b"" if event.event is None else b"event: " + event.event.encode() + b"\n"
    return name + b"".join(b"data: " + line + b"\n" for line in rebuilt.split(b"\n")) + b"\n"
