"""Replay: a stored non-streamed answer as the SSE stream its provider would have sent.

A cache hit may be stored from a plain call and asked for again with `stream: true`. The
client's SDK then reads the replay with its own stream parser, so the bytes must be the
provider's wire format, not a look-alike: each answer becomes the fewest events that rebuild
it exactly (all of a block's text in one delta). What cannot be rebuilt exactly (a field the
stream would carry differently, a block type not known here) raises `ReplayError`, and the
gateway treats the call as a miss rather than hand the client a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import orjson

OPENAI_DONE: Final = b"data: [DONE]\n\n"

# A chat message's fields a delta carries the same way; any other non-empty one (audio,
# function_call, annotations, a provider's own) is streamed in a shape of its own.
_CHAT_DELTA_FIELDS: Final = ("role", "content", "refusal", "tool_calls")
_CHUNK_HEAD_FIELDS: Final = ("id", "created", "model", "system_fingerprint", "service_tier")


class ReplayError(ValueError):
    """The stored answer cannot be streamed faithfully; the message names what."""


def chat_completion_events(answer: Mapping[str, object], *, include_usage: bool) -> list[bytes]:
    """A Chat Completions answer as `chat.completion.chunk` events, then `[DONE]`.

    Per choice, by index: its role and whole content (and refusal, logprobs), one chunk per
    tool call, then its finish_reason. With `include_usage` (the request's
    `stream_options.include_usage`) every chunk says `usage: null` and a last one with no
    choices carries the usage, as OpenAI sends it; without, no usage is sent at all.
    """
    head = _chunk_head(answer, include_usage)
    choices = sorted((_mapping(c, "choice") for c in _list(answer, "choices")), key=_index)
    chunks = [chunk for choice in choices for chunk in _choice_chunks(head, choice)]
    chunks += [{**head, "choices": [_chunk_choice(c, {}, c.get("finish_reason"))]} for c in choices]
    if include_usage:
        chunks.append({**head, "choices": [], "usage": _mapping(answer.get("usage"), "usage")})
    return [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks] + [OPENAI_DONE]


def _chunk_head(answer: Mapping[str, object], include_usage: bool) -> dict[str, object]:
    head: dict[str, object] = {"object": "chat.completion.chunk"}
    head.update({f: answer[f] for f in _CHUNK_HEAD_FIELDS if answer.get(f) is not None})
    if "id" not in head or "model" not in head:
        raise ReplayError("a chat completion without its id or model")
    return {**head, "usage": None} if include_usage else head


def _choice_chunks(
    head: dict[str, object], choice: Mapping[str, object]
) -> list[dict[str, object]]:
    message = _mapping(choice.get("message"), "message")
    unknown = [k for k, v in message.items() if k not in _CHAT_DELTA_FIELDS and v not in (None, [])]
    if unknown:
        raise ReplayError(f"a chat message field a stream carries otherwise: {unknown[0]}")
    first = {"role": message.get("role", "assistant"), "content": message.get("content")}
    if message.get("refusal") is not None:
        first["refusal"] = message["refusal"]
    opening = _chunk_choice(choice, first, None, choice.get("logprobs"))
    calls = [_tool_call_delta(i, call) for i, call in enumerate(_list(message, "tool_calls"))]
    return [{**head, "choices": [opening]}] + [
        {**head, "choices": [_chunk_choice(choice, {"tool_calls": [c]}, None)]} for c in calls
    ]


def _tool_call_delta(index: int, call: object) -> dict[str, object]:
    """The whole call in one delta: the SDKs concatenate `arguments` across deltas."""
    call = _mapping(call, "tool call")
    if call.get("type", "function") != "function":
        raise ReplayError(f"a tool call of type {call.get('type')!r}")
    function = _mapping(call.get("function"), "tool call function")
    fn = {"name": function.get("name"), "arguments": function.get("arguments", "")}
    return {"index": index, "id": call.get("id"), "type": "function", "function": fn}


def _chunk_choice(
    choice: Mapping[str, object], delta: object, finish: object, logprobs: object = None
) -> dict[str, object]:
    return {"index": _index(choice), "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def anthropic_message_events(answer: Mapping[str, object]) -> list[bytes]:
    """A Messages answer as `message_start`, each block's start, deltas and stop,
    `message_delta` and `message_stop`.

    Usage is split as Anthropic splits it, so a client that reads message_start sees what it
    would from the provider: message_start holds the input side with `output_tokens` 1 (0 for
    an empty answer), and message_delta the answer's whole usage, which the SDKs and
    the gateway's tally take as cumulative totals that overwrite the start's.
    """
    usage = _mapping(answer.get("usage"), "usage")
    blocks = [
        _block_events(i, _mapping(b, "block")) for i, b in enumerate(_list(answer, "content"))
    ]
    start_usage = {**usage, "output_tokens": min(_int(usage, "output_tokens"), 1)}
    message = {k: v for k, v in answer.items() if k not in ("content", "usage")}
    message.update(content=[], stop_reason=None, stop_sequence=None, usage=start_usage)
    delta = {"stop_reason": answer.get("stop_reason"), "stop_sequence": answer.get("stop_sequence")}
    if "stop_details" in answer:
        message["stop_details"] = None
        delta["stop_details"] = answer["stop_details"]
    events: list[dict[str, object]] = [{"type": "message_start", "message": message}]
    events += [event for block in blocks for event in block]
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return [_named_event(event) for event in events]


def _block_events(index: int, block: Mapping[str, object]) -> list[dict[str, object]]:
    kind = block.get("type")
    if kind == "text":
        start, deltas = _text_block(block)
    elif kind in ("tool_use", "server_tool_use"):
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": _json_text(block.get("input"))}]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": _str(block, "thinking")}]
        deltas.append({"type": "signature_delta", "signature": _str(block, "signature")})
    elif kind == "redacted_thinking":
        start, deltas = dict(block), []
    else:
        raise ReplayError(f"an Anthropic content block of type {kind!r}")
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def _text_block(block: Mapping[str, object]) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Citations, when the block has them, arrive one per citations_delta after the text."""
    citations = block.get("citations")
    deltas: list[dict[str, object]] = [{"type": "text_delta", "text": _str(block, "text")}]
    if citations is None:
        return {**block, "text": ""}, deltas
    cited = [{"type": "citations_delta", "citation": c} for c in _list(block, "citations")]
    return {**block, "text": "", "citations": []}, deltas + cited


def _named_event(event: dict[str, object]) -> bytes:
    name = str(event["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _json_text(value: object) -> str:
    if not isinstance(value, Mapping):
        raise ReplayError("a tool_use block whose input is not an object")
    return orjson.dumps(value).decode()


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ReplayError(f"a {what} that is not an object")
    return value


def _list(parent: Mapping[str, object], field: str) -> list[object]:
    value = parent.get(field)
    if value is None and field == "tool_calls":
        return []
    if not isinstance(value, list):
        raise ReplayError(f"a {field} that is not a list")
    return value


def _str(parent: Mapping[str, object], field: str) -> str:
    value = parent.get(field)
    if not isinstance(value, str):
        raise ReplayError(f"a {field} that is not a string")
    return value


def _int(parent: Mapping[str, object], field: str) -> int:
    value = parent.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReplayError(f"a {field} that is not a whole number")
    return value


def _index(choice: Mapping[str, object]) -> int:
    return _int(choice, "index")
