# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A stream whose bill is one final event's `usage`: image generations and edits
(`image_generation.completed`), streamed transcriptions (`transcript.text.done`), speech as
server-sent events (`speech.audio.done`).

The final event is held by the relay, settled from, and carries the debit to the client. A
stream cut before it bills what was counted (the input) plus any text deltas seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing.metering.stream_tally import StreamEvent, event_object
from billing.metering.usage import ToolRuns, Usage

UsageReader = Callable[[dict[str, object]], Usage | None]


class FinalEventTally:
    def __init__(
        self, final: frozenset[str], read_usage: UsageReader, deltas: frozenset[str] = frozenset()
    ) -> None:
        self.final = final
        self.read_usage = read_usage
        self.deltas = deltas
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.rewrite: bytes | None = None
        self.stored_id: str | None = None
        self.usage: Usage | None = None

    def feed(self, event: StreamEvent) -> bool:
        if not event.data:
            return True
        body = event_object(event)
        if body is None:
            self.malformed = True
            return True
        kind = body.get("type", event.event)
        if kind in self.final:
            raw = body.get("usage")
            self.usage = self.read_usage(raw) if isinstance(raw, dict) else None
            self.done = True
        elif kind in self.deltas and isinstance(body.get("delta"), str):
            self.text_parts.append(body["delta"])
        elif kind == "error" or "error" in body:
            error = body.get("error", body)
            self.error = error if isinstance(error, dict) else {"message": str(error)}
        return True

    def reported(self) -> Usage | None:
        return self.usage

    def finish_reasons(self) -> tuple[str, ...]:
        """Not read from this stream: a span of it names none."""
        return ()

    @property
    def usage_final(self) -> bool:
        return self.done and self.usage is not None

    @property
    def tool_runs(self) -> ToolRuns:
        return ()
