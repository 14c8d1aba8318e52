"""Server-sent events as plain values, and where in a stream an injected failure lands.

Each route first plans its whole stream as a list of `Frame`s (pure, easy to inspect);
`sse.play` is the only code that writes them to a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def dumps(obj: Any) -> str:
    """Compact JSON, as both providers put it on the wire."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event; `content` marks the frames that carry reply text (what `chunks` counts)."""

    data: str
    event: str | None = None
    content: bool = False

    @classmethod
    def of(cls, obj: Any, event: str | None = None, content: bool = False) -> Frame:
        """A frame whose data is `obj` as compact JSON."""
        return cls(dumps(obj), event, content)

    def encode(self) -> bytes:
        """The wire form: optional `event:` line, one `data:` line, blank-line terminator."""
        head = f"event: {self.event}\n" if self.event else ""
        return f"{head}data: {self.data}\n\n".encode()

    def truncated(self) -> bytes:
        """The first half of the wire form: an event cut off before its terminator."""
        wire = self.encode()
        return wire[: len(wire) // 2]

    def malformed(self) -> bytes:
        """A complete event whose JSON data is cut in half, so a parser chokes on it."""
        return Frame(self.data[: len(self.data) // 2], self.event).encode()


def failure_index(frames: list[Frame], after_chunks: int | None) -> int | None:
    """Index of the frame replaced by the failure: right after the `after_chunks`-th content
    frame (before the first one for 0, after the last if the reply has fewer)."""
    if after_chunks is None:
        return None
    positions = [i for i, frame in enumerate(frames) if frame.content]
    if not positions:
        return max(len(frames) - 1, 0)
    if after_chunks <= 0:
        return positions[0]
    return positions[min(after_chunks, len(positions)) - 1] + 1
