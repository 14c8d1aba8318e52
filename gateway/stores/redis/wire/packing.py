# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Commands in RESP, built for the two scripts every proxied request runs.

Packing was the largest single cost Meterway adds to a request (docs/performance.md, "The
figures behind the code"): hiredis formats each argument's length with sprintf, and a
request sends dozens of arguments. Here a command is built as one ASCII string and encoded
once, lengths come from a table, and a key name (the same few per key and account, request
after request) is packed once and kept. Anything that is not ASCII text or an int packs as
bytes, as before.

That is the compiled build's (setup.py): as Python, this packing costs more than hiredis's
C, so the pure build packs script calls with hiredis (`pack_script_call`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import hiredis

from gateway.build import COMPILED

SIZES: Final = 1024  # "$<n>\r\n" kept for every length under this
_SIZE: Final = tuple(f"${n}\r\n" for n in range(SIZES))
_COUNT: Final = tuple(f"*{n}\r\n" for n in range(SIZES))
MEMO_SIZE: Final = 50_000  # packed key names kept; a full memo starts over
_memo: dict[str, str] = {}


class NotText(Exception):
    """An argument that is not ASCII text or an int: the command packs as bytes instead."""


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP."""
    try:
        out = [_count(len(args))]
        for arg in args:
            _append(out, arg)
        return "".join(out).encode()
    except NotText:
        return pack_bytes(args)


def pack_evalsha(sha: str, keys: tuple[str, ...], args: tuple[Any, ...]) -> bytes:
    """EVALSHA sha numkeys *keys *args, the keys' packing taken from the memo."""
    try:
        out = [_count(3 + len(keys) + len(args)), "$7\r\nEVALSHA\r\n", _kept(sha)]
        _append(out, len(keys))
        for key in keys:
            out.append(_kept(key))
        for arg in args:
            _append(out, arg)
        return "".join(out).encode()
    except NotText:
        return pack_bytes(("EVALSHA", sha, len(keys), *keys, *args))


def pack_evalsha_hiredis(sha: str, keys: tuple[str, ...], args: tuple[Any, ...]) -> bytes:
    """What `pack_evalsha` gives, packed by hiredis."""
    command = ("EVALSHA", sha, len(keys), *keys, *args)
    try:
        return cast(bytes, hiredis.pack_command(command))
    except TypeError:  # hiredis takes str, bytes, int and float only
        return pack_bytes(command)


ScriptPacker = Callable[[str, tuple[str, ...], tuple[Any, ...]], bytes]
pack_script_call: Final[ScriptPacker] = pack_evalsha if COMPILED else pack_evalsha_hiredis


def pack_bytes(args: tuple[Any, ...]) -> bytes:
    """Any command: bytes as they are, anything else as its str() in UTF-8."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _count(n: int) -> str:
    return _COUNT[n] if n < SIZES else f"*{n}\r\n"


def _size(n: int) -> str:
    return _SIZE[n] if n < SIZES else f"${n}\r\n"


def _append(out: list[str], arg: Any) -> None:
    """arg as one bulk string; an int by its decimal digits (a bool is not one here: it
    would be packed as True or False, so it goes the bytes way like every other type)."""
    if isinstance(arg, str):
        if not arg.isascii():
            raise NotText
        text = arg
    elif type(arg) is int:
        text = str(arg)
    else:
        raise NotText
    out.append(_size(len(text)))
    out.append(text)
    out.append("\r\n")


def _kept(key: str) -> str:
    """A key name packed as a bulk string, once. A request's own key names (its tombstone)
    are kept too: cheaper than telling them apart, and the memo's bound holds them."""
    packed = _memo.get(key)
    if packed is None:
        if not key.isascii():
            raise NotText
        packed = _size(len(key)) + key + "\r\n"
        if len(_memo) >= MEMO_SIZE:
            _memo.clear()
        _memo[key] = packed
    return packed
