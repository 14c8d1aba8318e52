"""OpenAI chat clients reaching a model on Google's own wire (Gemini API, Vertex AI): the
request translated to `generateContent`, the answer and the stream translated back.

What translates: system/developer, user and assistant messages of text; `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `stop`, `n`, `seed`, `response_format`
json_object; `stream` and `stream_options.include_usage`. Anything else a client may send
(tools, images, audio, logprobs...) would be dropped or mean something else, so it is
refused with a 400 naming it, before anything is reserved. Usage is Gemini's, billed per
field as on Gemini's own route, and reported in OpenAI's fields (prompt = prompt + tool-use
prompt tokens, completion = candidates + thoughts, cached and reasoning in the details).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from billing.gemini import GeminiStreamTally, candidate_texts
from billing.pricing import ModelPrice
from billing.tokens import TokenCounter
from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.readers import read_chat

PASSED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "n",
        "seed",
        "response_format",
        "stream",
        "stream_options",
        "user",
    }
)
ROLES = {"user": "user", "assistant": "model"}
MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant"})
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


def text_of(content: object, at: int) -> str:
    """A message's text: a string, or text parts only (checked by `check_translatable`)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content)
    raise InvalidRequest(f"messages[{at}] has no text.", param="messages")


def _text_only(content: object) -> bool:
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    )


def check_translatable(body: Body, passed: frozenset[str], target: str, route: str) -> None:
    """Refuse by name any field or message the translation to `target` would not carry."""
    extra = sorted(set(body) - passed)
    if extra:
        raise InvalidRequest(
            f"'{extra[0]}' is not translated for {target} models; call {route} to use it.",
            param=extra[0],
        )
    for at, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            continue  # the chat reader refuses it
        if message.get("role") not in MESSAGE_ROLES or not _text_only(message.get("content")):
            raise InvalidRequest(
                f"messages[{at}]: only system, user and assistant text reaches {target} "
                "models from this route.",
                param="messages",
            )


def read_translated(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """The chat reader's sizing, once every field is one the translation carries."""
    check_translatable(body, PASSED, "Gemini", "/v1/models/{model}:generateContent")
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "json_object"} and fmt != {"type": "text"}:
        raise InvalidRequest(
            "Only response_format json_object and text are translated for Gemini models.",
            param="response_format",
        )
    return read_chat(body, price, counter)


def to_gemini(body: Body) -> Body:
    """The generateContent body of a chat request read by `read_translated`."""
    system, contents = [], []
    for at, message in enumerate(body["messages"]):
        role, text = message.get("role"), text_of(message.get("content"), at)
        if role in ("system", "developer"):
            system.append({"text": text})
        else:
            contents.append({"role": ROLES.get(str(role), "user"), "parts": [{"text": text}]})
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    for name, value in (
        ("maxOutputTokens", limit),
        ("temperature", body.get("temperature")),
        ("topP", body.get("top_p")),
        ("candidateCount", body.get("n")),
        ("seed", body.get("seed")),
    ):
        if value is not None:
            config[name] = value
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    if body.get("response_format") == {"type": "json_object"}:
        config["responseMimeType"] = "application/json"
    out: Body = {"contents": contents, "generationConfig": config}
    if system:
        out["systemInstruction"] = {"parts": system}
    return out


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


def _finish(candidate: dict[str, Any]) -> str | None:
    reason = candidate.get("finishReason")
    return FINISH.get(str(reason), "stop") if reason else None


def to_chat(payload: Body, model: str) -> Body:
    """A generateContent answer as a chat.completion."""
    choices = [
        {
            "index": candidate.get("index", at),
            "message": {
                "role": "assistant",
                "content": "".join(candidate_texts({"candidates": [candidate]})),
            },
            "finish_reason": _finish(candidate) or "stop",
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

    def feed(self, event: Any) -> bool:
        self.rewrite = None
        forward = super().feed(event)
        if self.error is not None or self.malformed or not event.data:
            return forward
        payload = orjson.loads(event.data)
        chunks = [self._chunk(payload, c, at) for at, c in enumerate(_candidates(payload))]
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

    def _chunk(self, payload: Body, candidate: dict[str, Any], at: int) -> dict[str, Any]:
        text = "".join(candidate_texts({"candidates": [candidate]}))
        choice = {
            "index": candidate.get("index", at),
            "delta": {"role": "assistant", "content": text},
            "finish_reason": _finish(candidate),
        }
        return self._base(payload) | {"choices": [choice]}
