"""The OpenAI Responses API, read for billing: usage, tier and built-in tool runs.

A response object carries its usage only once it reaches a terminal state; the same object
arrives as a JSON answer, inside the terminal stream event, or from a background poll. Tool
runs are counted from output items whose status is "completed": a search that failed or was
cut short is not a run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from billing.metering.finish import finish_reasons
from billing.metering.stream_tally import StreamEvent, event_object
from billing.metering.usage import ToolRuns, Usage, usage_from_openai
from billing.names import one_of
from billing.values import replace

TERMINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
BUILT_IN_TOOLS = frozenset({"web_search_call", "file_search_call"})
TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    }
)


def is_terminal(response: dict[str, Any]) -> bool:
    status = response.get("status")
    return one_of(status, TERMINAL_STATUSES)


def _ran(item: object) -> str | None:
    """The item's tool type when it is a built-in tool run that completed."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if not one_of(kind, BUILT_IN_TOOLS):
        return None
    return kind if item.get("status") == "completed" else None


def tool_runs(items: object) -> ToolRuns:
    runs = Counter(t for t in map(_ran, items if isinstance(items, list) else []) if t)
    return tuple(sorted(runs.items()))


def service_tier(response: dict[str, Any]) -> str:
    tier = response.get("service_tier")
    return tier if isinstance(tier, str) and tier != "default" else ""


def usage_from_response(response: dict[str, Any]) -> Usage | None:
    """The reported usage with its tier and tool runs; None while the response reports none."""
    raw = response.get("usage")
    if not isinstance(raw, dict):
        return None
    usage = usage_from_openai(raw)
    if usage is None:
        return None  # malformed: counted instead, like an absent usage
    runs = tool_runs(response.get("output"))
    return replace(usage, tool_runs=runs, service_tier=service_tier(response))


def _append_text(parts: list[str], value: object) -> None:
    if isinstance(value, str) and value:
        parts.append(value)


def response_text(response: dict[str, Any]) -> list[str]:
    """Every piece of generated text in the output, for counting when usage is missing."""
    parts: list[str] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        for block in (item.get("content") or []) + (item.get("summary") or []):
            if isinstance(block, dict):
                _append_text(parts, block.get("text"))
                _append_text(parts, block.get("refusal"))
        _append_text(parts, item.get("name"))
        _append_text(parts, item.get("arguments"))
    return parts


class ResponsesStreamTally:
    """A Responses stream: text from the delta events, the bill from the terminal event.

    Nothing is hidden. Tool runs seen in `response.output_item.done` count even when the
    stream is cut before its terminal event, since those tools did run.
    """

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.rewrite: bytes | None = None
        self.stored_id: str | None = None
        self.final: dict[str, Any] | None = None
        self._items: list[object] = []

    def feed(self, event: StreamEvent) -> bool:
        if not event.data:
            return True
        body = event_object(event)
        if body is None:
            self.malformed = True
            return True
        kind = body.get("type", event.event)
        if kind is not None and not isinstance(kind, str):
            self.malformed = True  # a type no client SDK can dispatch on
            return True
        self._take(kind, body)
        return True

    def _take(self, kind: str | None, body: dict[str, Any]) -> None:
        if kind in TEXT_DELTAS:
            _append_text(self.text_parts, body.get("delta"))
        elif kind == "response.output_item.done":
            self._items.append(body.get("item"))
        elif kind == "response.created":
            response = body.get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                self.stored_id = response["id"]
        elif kind in TERMINAL_EVENTS:
            response = body.get("response")
            self.final = response if isinstance(response, dict) else {}
            self.done = True
        elif kind == "error":
            self.error = {k: v for k, v in body.items() if k != "type"}

    def reported(self) -> Usage | None:
        return None if self.final is None else usage_from_response(self.final)

    def finish_reasons(self) -> tuple[str, ...]:
        """The terminal event's response, read as a plain answer's is."""
        return () if self.final is None else finish_reasons(self.final)

    @property
    def usage_final(self) -> bool:
        return self.final is not None

    @property
    def tool_runs(self) -> ToolRuns:
        if self.final is not None:
            return tool_runs(self.final.get("output"))
        return tool_runs(self._items)
