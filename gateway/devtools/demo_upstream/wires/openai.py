"""OpenAI's wire format, byte-for-byte as the official SDK parses it: pure builders only.

Shapes follow openai's `types/` (ChatCompletion, ChatCompletionChunk, Completion,
CreateEmbeddingResponse, Model). Streaming usage follows the real API: only when the request
sets `stream_options.include_usage` does every chunk carry `"usage": null` and a last chunk
with `"choices": []` carry the totals.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.devtools.demo_upstream.control import JSON, Behaviour
from gateway.devtools.demo_upstream.frames import Frame
from gateway.devtools.demo_upstream.text import Reply

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
DONE = Frame("[DONE]")
STREAM_ERROR = {
    "message": "The server had an error while processing your request.",
    "type": "server_error",
    "param": None,
    "code": None,
}


@dataclass(frozen=True, slots=True)
class Meta:
    """The fields every object of one response shares."""

    id: str
    created: int
    model: str
    object: str
    service_tier: str | None = None  # chat reports the tier that served it; others do not

    @classmethod
    def new(cls, prefix: str, model: str, obj: str, service_tier: str | None = None) -> Meta:
        """Fresh id and timestamp for one response."""
        return cls(f"{prefix}-{uuid.uuid4().hex[:24]}", int(time.time()), model, obj, service_tier)

    def envelope(self, choices: list[JSON]) -> JSON:
        tier = {} if self.service_tier is None else {"service_tier": self.service_tier}
        return {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            **tier,
            "choices": choices,
        }


def error_body(status: int, message: str) -> JSON:
    """OpenAI's error envelope."""
    kind = ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def error_frame() -> Frame:
    """The in-stream error event the SDK turns into `openai.APIError`."""
    return Frame.of({"error": STREAM_ERROR})


def chat_usage(reply: Reply) -> JSON:
    """Usage with the detail objects current models send."""
    return {
        **legacy_usage(reply),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def legacy_usage(reply: Reply) -> JSON:
    """The three-field usage of /v1/completions."""
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def json_usage(behaviour: Behaviour, computed: JSON) -> JSON | None:
    """The usage a JSON body reports: none for an old server, the override, or the truth."""
    if behaviour.omit_usage:
        return None
    return behaviour.usage if behaviour.usage is not None else computed


def stream_usage(behaviour: Behaviour, body: JSON, computed: JSON) -> JSON | None:
    """The usage chunk's object, or None when the stream must carry no usage at all."""
    options = body.get("stream_options")
    asked = isinstance(options, dict) and options.get("include_usage") is True
    if not asked or behaviour.ignore_usage_request:
        return None
    return json_usage(behaviour, computed)


def finish_reason(reply: Reply) -> str:
    return "length" if reply.truncated else "stop"


def _with_usage(obj: JSON, usage: JSON | None) -> JSON:
    return obj if usage is None else {**obj, "usage": usage}


def chat_completion(meta: Meta, reply: Reply, usage: JSON | None) -> JSON:
    """A `chat.completion` object."""
    message: JSON = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(reply),
    }
    return _with_usage(meta.envelope([choice]), usage)


def _chunk(meta: Meta, choices: list[JSON], usage_key: bool, content: bool = False) -> Frame:
    obj = meta.envelope(choices)
    return Frame.of({**obj, "usage": None} if usage_key else obj, content=content)


def chat_frames(meta: Meta, reply: Reply, pieces: list[str], usage: JSON | None) -> list[Frame]:
    """role chunk, content chunks, finish chunk, optional usage chunk, [DONE]."""
    keyed = usage is not None

    def choice(delta: JSON, finish: str | None = None) -> list[JSON]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    frames = [_chunk(meta, choice({"role": "assistant", "content": "", "refusal": None}), keyed)]
    frames += [_chunk(meta, choice({"content": p}), keyed, content=True) for p in pieces]
    frames.append(_chunk(meta, choice({}, finish_reason(reply)), keyed))
    return _close(meta, frames, usage)


def _close(meta: Meta, frames: list[Frame], usage: JSON | None) -> list[Frame]:
    if usage is not None:
        frames.append(Frame.of({**meta.envelope([]), "usage": usage}))
    return [*frames, DONE]


def text_completion(meta: Meta, reply: Reply, usage: JSON | None) -> JSON:
    """A legacy `text_completion` object."""
    choice = {
        "text": reply.text,
        "index": 0,
        "logprobs": None,
        "finish_reason": finish_reason(reply),
    }
    return _with_usage(meta.envelope([choice]), usage)


def completion_frames(
    meta: Meta, reply: Reply, pieces: list[str], usage: JSON | None
) -> list[Frame]:
    """Text chunks, a finish chunk, optional usage chunk, [DONE]."""
    keyed = usage is not None

    def choice(text: str, finish: str | None = None) -> list[JSON]:
        return [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]

    frames = [_chunk(meta, choice(p), keyed, content=True) for p in pieces]
    frames.append(_chunk(meta, choice("", finish_reason(reply)), keyed))
    return _close(meta, frames, usage)


def _pack(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings(model: str, vectors: list[list[float]], base64_format: bool, usage: JSON) -> JSON:
    """A `list` of embedding objects; base64 is little-endian float32, as the SDK decodes it."""
    data = [
        {"object": "embedding", "index": i, "embedding": _pack(v) if base64_format else v}
        for i, v in enumerate(vectors)
    ]
    return {"object": "list", "data": data, "model": model, "usage": usage}


def models(names: tuple[str, ...]) -> JSON:
    """The /v1/models list."""
    created = 1_700_000_000
    data = [
        {"id": n, "object": "model", "created": created, "owned_by": "meterway-demo"} for n in names
    ]
    return {"object": "list", "data": data}


def embedding_inputs(raw: Any) -> list[str | list[int]]:
    """Normalise `input`: a string, a token array, or a list of either."""
    if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
        return [raw]
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, str | list)]
