"""A Gemini answer and stream as OpenAI chat completions, for the chat clients whose
requests llm/gemini/translate.py translated.

Text parts become the message's content, `functionCall` parts its `tool_calls` (arguments
as a JSON string, `finish_reason` "tool_calls"); in a stream, each call Gemini sends whole
becomes two deltas, its id and name then its arguments. Usage is Gemini's, billed per
field as on Gemini's own route, and reported in OpenAI's fields (prompt = prompt + tool-use
prompt tokens, completion = candidates + thoughts, cached and reasoning in the details).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from billing.metering.gemini import GeminiStreamTally
from gateway.llm.chat.tools import arguments_json, call_arguments, call_start, openai_call
from gateway.llm.endpoint import Body
from gateway.llm.gemini.translate import LOCAL_ID

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


class CallIds:
    """OpenAI ids for Gemini's calls: Gemini's own `id` when it sent one, else one made
    here, unique to the answer (`LOCAL_ID`, so the request translation knows not to send
    it back)."""

    def __init__(self) -> None:
        self.salt = secrets.token_hex(6)
        self.made = 0

    def of(self, call: dict[str, Any]) -> str:
        given = call.get("id")
        if isinstance(given, str) and given:
            return given
        self.made += 1
        return f"{LOCAL_ID}{self.salt}_{self.made}"


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _text(candidate: dict[str, Any]) -> str:
    return "".join(p["text"] for p in _parts(candidate) if isinstance(p.get("text"), str))


def _calls(candidate: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Each function call and the thought signature of its part ('' for none)."""
    found = [(p.get("functionCall"), p.get("thoughtSignature")) for p in _parts(candidate)]
    return [
        (c, sig if isinstance(sig, str) else "")
        for c, sig in found
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    ]


def _openai_usage(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("promptTokenCount") or 0) + int(raw.get("toolUsePromptTokenCount") or 0)
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    completion = int(raw.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(raw.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _candidates(payload: Body) -> list[dict[str, Any]]:
    found = payload.get("candidates")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _finish(candidate: dict[str, Any], called: bool) -> str | None:
    reason = candidate.get("finishReason")
    if not reason:
        return None
    return "tool_calls" if called and reason == "STOP" else FINISH.get(str(reason), "stop")


def _message(candidate: dict[str, Any], ids: CallIds) -> dict[str, Any]:
    calls = [
        openai_call(ids.of(c), c["name"], arguments_json(c.get("args")), sig)
        for c, sig in _calls(candidate)
    ]
    text = _text(candidate)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    return message | ({"tool_calls": calls} if calls else {})


def to_chat(payload: Body, model: str) -> Body:
    """A generateContent answer as a chat.completion."""
    ids = CallIds()
    choices = [
        {
            "index": candidate.get("index", at),
            "message": _message(candidate, ids),
            "finish_reason": _finish(candidate, bool(_calls(candidate))) or "stop",
        }
        for at, candidate in enumerate(_candidates(payload))
    ]
    return {
        "id": "chatcmpl-" + str(payload.get("responseId") or "gemini"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _openai_usage(payload.get("usageMetadata")),
    }


class ChatFromGeminiTally(GeminiStreamTally):
    """Reads Gemini's stream as `GeminiStreamTally` does and has the relay forward each
    event as OpenAI chat chunks instead (`rewrite`); the last one is followed by the usage
    chunk when the client asked for it, and `[DONE]`."""

    def __init__(self, client_wants_usage: bool) -> None:
        super().__init__()
        self.client_wants_usage = client_wants_usage
        self.created = int(time.time())
        self.ids = CallIds()
        self.calls: dict[int, int] = {}  # calls so far, by choice

    def feed(self, event: Any) -> bool:
        self.rewrite = None
        forward = super().feed(event)
        if self.error is not None or self.malformed or not event.data:
            return forward
        payload = orjson.loads(event.data)
        chunks = [
            c
            for at, cand in enumerate(_candidates(payload))
            for c in self._chunks(payload, cand, at)
        ]
        if self.done and self.client_wants_usage:
            chunks.append(
                self._base(payload)
                | {"choices": [], "usage": _openai_usage(payload.get("usageMetadata"))}
            )
        wire = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
        self.rewrite = wire + (b"data: [DONE]\n\n" if self.done else b"")
        return True

    def _base(self, payload: Body) -> dict[str, Any]:
        return {
            "id": "chatcmpl-" + str(payload.get("responseId") or "gemini"),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": str(payload.get("modelVersion") or ""),
        }

    def _deltas(self, candidate: dict[str, Any], index: int) -> list[dict[str, Any]]:
        calls, text = _calls(candidate), _text(candidate)
        deltas = [{"role": "assistant", "content": text}] if text or not calls else []
        for call, signature in calls:
            at = self.calls.get(index, 0)
            self.calls[index] = at + 1
            deltas.append(call_start(at, self.ids.of(call), call["name"], signature))
            deltas.append(call_arguments(at, arguments_json(call.get("args"))))
        return deltas

    def _chunks(self, payload: Body, candidate: dict[str, Any], at: int) -> list[dict[str, Any]]:
        index = candidate.get("index", at)
        index = index if isinstance(index, int) and not isinstance(index, bool) else at
        deltas = self._deltas(candidate, index)
        finish = _finish(candidate, index in self.calls)
        return [
            self._base(payload)
            | {
                "choices": [
                    {
                        "index": index,
                        "delta": delta,
                        "finish_reason": finish if n == len(deltas) - 1 else None,
                    }
                ]
            }
            for n, delta in enumerate(deltas)
        ]
