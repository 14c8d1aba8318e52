# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Incremental Server-Sent Events parser for relaying provider streams.

A proxy needs two things from each event: its fields, to meter it, and its exact bytes, to
forward it untouched or drop it. So every event carries `raw`, and the raws of all events
concatenate back to the bytes received (up to an unterminated tail). Parsing works on whole
events, found with bytes.find or one regex search, never with a Python loop over bytes.
"""

from __future__ import annotations

import re
from typing import Final, final

from billing.values import Value

_CR = 0x0D
_LF = 0x0A
_COLON = 0x3A
_BOM = b"\xef\xbb\xbf"
# Two line breaks in a row end an event. Atomic groups keep a CRLF from being read as CR + LF.
_EVENT_END = re.compile(rb"(?>\r\n|\r|\n)(?>\r\n|\r|\n)")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


@final
class SSEEvent(Value):
    """One event; `raw` includes its blank line. Comment-only events have data "" and no name."""

    def __init__(self, raw: bytes, event: str | None, data: str) -> None:
        self.raw: Final = raw
        self.event: Final = event
        self.data: Final = data


class SSEParser:
    """Feed it chunks as they arrive; it returns each event as soon as its blank line is seen.

    A CR that ends the data seen so far may be the first half of a CRLF. The event it completes
    is returned at once (holding it back would stall the stream), and a LF arriving next is
    forwarded as the first byte of the following event's raw rather than read as a blank line.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the search for the current event's end resumes
        self._skip = 0  # 1 when the buffer starts with the LF of an already-split CRLF
        self._lf_pending = False
        self._has_cr = False  # streams without CR take a plain bytes.find fast path
        self._at_stream_start = True

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._lf_pending:
            self._lf_pending = False
            self._skip = 1 if chunk[0] == _LF else 0
        if not self._has_cr and _CR in chunk:
            self._has_cr = True
        buf = self._buf
        buf += chunk
        events: list[SSEEvent] = []
        pos = 0
        while (end := self._event_end(buf, pos)) > 0:
            events.append(self._build(bytes(buf[pos:end])))
            pos, self._skip, self._scan = end, 0, 0
        self._lf_pending = self._has_cr and pos == len(buf) > 0 and buf[-1] == _CR
        del buf[:pos]
        self._scan = max(self._scan - pos, 0)
        return events

    @property
    def pending_bytes(self) -> int:
        """Bytes of the event still waiting for its blank line: the relay caps this, so a
        provider cannot make the gateway buffer one endless event."""
        return len(self._buf)

    def flush(self) -> list[SSEEvent]:
        """The stream ended: an unterminated event is returned if it carried data."""
        raw = bytes(self._buf)
        event, data = _fields(self._lines(raw[self._skip :]))
        self._reset()
        return [SSEEvent(raw, event, _decode(data))] if data else []

    def _event_end(self, buf: bytearray, pos: int) -> int:
        """Index just past the blank line ending the event that starts at pos, or -1."""
        start = pos + self._skip
        if start >= len(buf):
            return -1
        first = buf[start]
        if first in (_LF, _CR):
            crlf = first == _CR and start + 1 < len(buf) and buf[start + 1] == _LF
            return start + 1 + crlf
        if not self._has_cr:
            found = buf.find(b"\n\n", max(start, self._scan))
            self._scan = max(start, len(buf) - 1)
            return -1 if found < 0 else found + 2
        match = _EVENT_END.search(buf, max(start, self._scan))
        # A pair of line breaks spans at most 4 bytes, so one not found yet ends in new bytes.
        self._scan = max(start, len(buf) - 3)
        return -1 if match is None else match.end()

    def _build(self, raw: bytes) -> SSEEvent:
        event, data = _fields(self._lines(raw[self._skip :]))
        return SSEEvent(raw, event, _decode(data))

    def _lines(self, body: bytes) -> list[bytes]:
        lines = _LINE_BREAK.split(body) if self._has_cr else body.split(b"\n")
        if self._at_stream_start:
            self._at_stream_start = False
            lines[0] = lines[0].removeprefix(_BOM)
        return lines


def _fields(lines: list[bytes]) -> tuple[str | None, list[bytes]]:
    """The event name and data lines; comments, unknown fields, id and retry are ignored."""
    event: str | None = None
    data: list[bytes] = []
    for line in lines:
        if not line or line[0] == _COLON:
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace") or None
    return event, data


def _decode(data: list[bytes]) -> str:
    return b"\n".join(data).decode("utf-8", "replace")
