"""Reading a provider's body with a size cap and an idle timeout between chunks.

A provider that answers 200 MB of JSON, or stalls half-way, must not hold the gateway's
memory or a client's request forever: `read_capped` stops at `cap` bytes and raises
TimeoutError when no byte arrives for `idle_s`.
"""

from __future__ import annotations

import asyncio

from gateway.llm.http1 import Answer


class TooLarge(Exception):
    """The provider's body exceeded the cap; `head` is what was read before the cap."""

    def __init__(self, head: bytes) -> None:
        super().__init__(f"provider body over {len(head)} bytes")
        self.head = head


async def read_capped(resp: Answer, cap: int, idle_s: float) -> bytes:
    """The whole body, or TooLarge once more than `cap` bytes arrived."""
    parts: list[bytes] = []
    size = 0
    while True:
        if resp.content.is_eof():  # the rest is buffered: reading it cannot stall
            chunk = await resp.content.readany()
        else:
            async with asyncio.timeout(idle_s):
                chunk = await resp.content.readany()
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
