"""OpenAI's Responses API wire format as the official SDK parses it: pure builders only.

A stream is the real event sequence: response.created, response.in_progress, for each web
search its output_item.added, web_search_call.in_progress/searching/completed and
output_item.done, then the message's output_item.added, content_part.added, output_text
deltas, output_text.done, content_part.done, output_item.done, and one terminal event
(response.completed, or response.incomplete when max_output_tokens cut the reply). Every
event has an `event:` line equal to its `type` and a rising `sequence_number`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from gateway.devtools.demo_upstream.control import JSON, Behaviour
from gateway.devtools.demo_upstream.frames import Frame
from gateway.devtools.demo_upstream.text import Reply


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def usage(behaviour: Behaviour, reply: Reply) -> JSON:
    """Counted usage, or the override a test set (cached and reasoning tokens, say)."""
    if behaviour.usage is not None:
        return behaviour.usage
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def web_search(index: int, status: str = "completed") -> JSON:
    action = {"type": "search", "query": f"demo query {index}"}
    return {"id": f"ws_demo{index}", "type": "web_search_call", "status": status, "action": action}


def message(msg_id: str, text: str | None, status: str = "completed") -> JSON:
    content = [] if text is None else [output_text(text)]
    return {
        "id": msg_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def output_text(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response(body: JSON, resp_id: str, model: str, tier: str, **fields: Any) -> JSON:
    """A `response` object; `fields` set status, output, usage and the like."""
    obj: JSON = {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "background": body.get("background") is True,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": {},
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "service_tier": tier,
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
    }
    return {**obj, **fields}


def finished(base: JSON, reply: Reply, searches: int, usage_obj: JSON, msg_id: str) -> JSON:
    """The terminal object: searches, the message, and usage; incomplete when truncated."""
    output = [web_search(i) for i in range(searches)] + [message(msg_id, reply.text)]
    status = "incomplete" if reply.truncated else "completed"
    details = {"reason": "max_output_tokens"} if reply.truncated else None
    return {
        **base,
        "status": status,
        "output": output,
        "usage": usage_obj,
        "incomplete_details": details,
    }


class _Seq:
    """Numbers events in order, as the real stream does."""

    def __init__(self) -> None:
        self.n = 0

    def frame(self, kind: str, content: bool = False, **fields: Any) -> Frame:
        obj = {"type": kind, "sequence_number": self.n, **fields}
        self.n += 1
        return Frame.of(obj, event=kind, content=content)


def _search_frames(seq: _Seq, index: int) -> list[Frame]:
    item_id = f"ws_demo{index}"
    frames = [
        seq.frame(
            "response.output_item.added", output_index=index, item=web_search(index, "in_progress")
        )
    ]
    for step in ("in_progress", "searching", "completed"):
        frames.append(
            seq.frame(f"response.web_search_call.{step}", output_index=index, item_id=item_id)
        )
    frames.append(
        seq.frame("response.output_item.done", output_index=index, item=web_search(index))
    )
    return frames


def _message_frames(
    seq: _Seq, index: int, msg_id: str, text: str, pieces: list[str]
) -> list[Frame]:
    at: dict[str, Any] = {"item_id": msg_id, "output_index": index, "content_index": 0}
    frames = [
        seq.frame(
            "response.output_item.added",
            output_index=index,
            item=message(msg_id, None, "in_progress"),
        ),
        seq.frame("response.content_part.added", part=output_text(""), **at),
    ]
    frames += [
        seq.frame("response.output_text.delta", content=True, delta=p, logprobs=[], **at)
        for p in pieces
    ]
    frames += [
        seq.frame("response.output_text.done", text=text, logprobs=[], **at),
        seq.frame("response.content_part.done", part=output_text(text), **at),
        seq.frame("response.output_item.done", output_index=index, item=message(msg_id, text)),
    ]
    return frames


def frames(base: JSON, final: JSON, searches: int, pieces: list[str], msg_id: str) -> list[Frame]:
    """The whole event sequence of one streamed response."""
    seq = _Seq()
    start = {**base, "status": "in_progress"}
    out = [
        seq.frame("response.created", response=start),
        seq.frame("response.in_progress", response=start),
    ]
    for i in range(searches):
        out += _search_frames(seq, i)
    text = "".join(pieces)
    out += _message_frames(seq, searches, msg_id, text, pieces)
    terminal = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    out.append(seq.frame(terminal, response=final))
    return out


def error_frame() -> Frame:
    """The in-stream `error` event of a failing response."""
    obj = {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error.",
        "param": None,
        "sequence_number": 0,
    }
    return Frame.of(obj, event="error")


def input_items(body: JSON) -> JSON:
    """GET /v1/responses/{id}/input_items: the request's input as message items."""
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
    data = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        data.append(
            {
                "id": f"msg_in{i}",
                "type": "message",
                "role": item.get("role", "user"),
                "status": "completed",
                "content": parts or [],
            }
        )
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }
