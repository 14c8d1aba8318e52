# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Reading a provider's body with a size cap and an idle timeout between chunks.

A provider that answers 200 MB of JSON, or stalls half-way, must not hold the gateway's
memory or a client's request forever: `read_capped` stops at `cap` bytes and raises
TimeoutError when no byte arrives for `idle_s`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Body(Protocol):
    """What is read of a provider's body (aiohttp's StreamReader)."""

    def is_eof(self) -> bool: ...

    async def readany(self) -> bytes: ...


class Source(Protocol):
    """A provider's open answer as its readers see it (http1.Answer). A protocol, not the
    class: the compiled build checks a parameter's class, and a test's fake provider is
    none of Answer's."""

    @property
    def content(self) -> Body: ...

    def close(self) -> None: ...


class TooLarge(Exception):
    """The provider's body exceeded the cap; `head` is what was read before the cap."""

    def __init__(self, head: bytes) -> None:
        super().__init__(f"provider body over {len(head)} bytes")
        self.head = head


async def next_chunk(resp: Source, idle_s: float) -> bytes:
    """The next bytes of the body (b"" at its end); TimeoutError when none arrive for
    `idle_s`. Once the whole body is buffered reading cannot stall: no timer for it."""
    if resp.content.is_eof():
        return await resp.content.readany()
    async with asyncio.timeout(idle_s):
        return await resp.content.readany()


async def read_capped(resp: Source, cap: int, idle_s: float) -> bytes:
    """The whole body, or TooLarge once more than `cap` bytes arrived."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await next_chunk(resp, idle_s)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            # One copy of `cap` bytes, and the chunks let go before raising (the traceback
            # would keep them): joining then slicing held three copies at once.
            parts[-1] = chunk[: len(chunk) - (size - cap)]
            head = b"".join(parts)
            parts.clear()
            raise TooLarge(head)
