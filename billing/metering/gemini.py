"""Google's Gemini wire (the Gemini API and Vertex AI): an answer's `usageMetadata` as
billed usage, its text, and its SSE stream (`streamGenerateContent?alt=sse`) read one event
at a time.

`usageMetadata` counts: `promptTokenCount` (every prompt token, cached ones included),
`cachedContentTokenCount` (the cached part, billed at the cache-read rate),
`toolUsePromptTokenCount` (tool results fed back as prompt, billed as input),
`candidatesTokenCount` (the answer) and `thoughtsTokenCount` (thinking, billed as output).
Each count may come with its parts by modality (`promptTokensDetails`,
`toolUsePromptTokensDetails`, `cacheTokensDetails`, `candidatesTokensDetails`: lists of
`{modality, tokenCount}`): audio, image (documents count as images) and video parts are the
catalogue's usage keys (`input_audio_tokens`, `cache_image_read_tokens`,
`output_image_tokens`, ...) and bill at the model's rate for them, text is the general rest,
as genai-prices' google extractor reads them. A part never exceeds what is left of its
whole, so a provider's parts cannot sum above its count.
The long-context tier (above 200k prompt tokens) is the card's band for the input total.
Every stream event carries the usage so far; the event whose candidate has a
`finishReason` carries the final one.
"""

from __future__ import annotations

from typing import Any

import orjson

from billing.metering.finish import finish_reasons
from billing.metering.usage import MalformedUsage, ToolRuns, Usage, field_tokens, log

# A modality's usage key in each details list (genai-prices' google extractor); TEXT and
# any modality not named here are the general count's rest.
MODAL_KEYS = {
    "input": {"AUDIO": "input_audio_tokens", "IMAGE": "input_image_tokens",
              "DOCUMENT": "input_image_tokens", "VIDEO": "input_video_tokens"},
    "cache": {"AUDIO": "cache_audio_read_tokens", "IMAGE": "cache_image_read_tokens",
              "DOCUMENT": "cache_image_read_tokens", "VIDEO": "cache_video_read_tokens"},
    "output": {"AUDIO": "output_audio_tokens", "IMAGE": "output_image_tokens",
               "DOCUMENT": "output_image_tokens", "VIDEO": "output_video_tokens"},
}  # fmt: skip


def usage_from_gemini(obj: dict[str, Any]) -> Usage | None:
    """The usage in a `usageMetadata` object; None when malformed (the tokens are then
    counted, never billed as a made-up zero)."""
    try:
        prompt = field_tokens(obj, "promptTokenCount", required=True)
        cached = min(field_tokens(obj, "cachedContentTokenCount"), prompt)
        tool_prompt = field_tokens(obj, "toolUsePromptTokenCount")
        thoughts = field_tokens(obj, "thoughtsTokenCount")
        answer = field_tokens(obj, "candidatesTokenCount")
        inputs = ("promptTokensDetails", "toolUsePromptTokensDetails")
        extra = (
            *_modal(obj, inputs, "input", prompt + tool_prompt),
            *_modal(obj, ("cacheTokensDetails",), "cache", cached),
            *_modal(obj, ("candidatesTokensDetails",), "output", answer + thoughts),
        )
    except MalformedUsage:
        log.warning("malformed Gemini usage treated as absent (tokens counted): %.300r", obj)
        return None
    return Usage(
        input_tokens=prompt - cached + tool_prompt,
        cached_input_tokens=cached,
        output_tokens=answer + thoughts,
        reasoning_tokens=thoughts,
        extra=extra,
    )


def _modal(
    obj: dict[str, Any], fields: tuple[str, ...], whole: str, total: int
) -> tuple[tuple[str, int], ...]:
    """The non-text parts the details lists `fields` report, each at most what is left of
    `total` (their whole), summed per usage key, in a stable order."""
    keys, found = MODAL_KEYS[whole], dict[str, int]()
    for name in fields:
        for modality, n in _details(obj.get(name)):
            key = keys.get(modality)
            if key is not None and n:
                n = min(n, total - sum(found.values()))
                found[key] = found.get(key, 0) + n
    return tuple(sorted((k, n) for k, n in found.items() if n))


def _details(raw: object) -> list[tuple[str, int]]:
    """A details list as (modality, tokens); MalformedUsage for anything else."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MalformedUsage(raw)
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("modality", ""), str):
            raise MalformedUsage(item)
        out.append((str(item.get("modality", "")), field_tokens(item, "tokenCount")))
    return out


def answer_usage(payload: dict[str, Any]) -> Usage | None:
    raw = payload.get("usageMetadata")
    return usage_from_gemini(raw) if isinstance(raw, dict) else None


def _candidates(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = payload.get("candidates")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def candidate_texts(payload: dict[str, Any]) -> list[str]:
    """Every text and function call of the answer's candidates, for counting."""
    out: list[str] = []
    for candidate in _candidates(payload):
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                out.append(part["text"])
            elif part.get("functionCall") is not None:
                out.append(orjson.dumps(part["functionCall"]).decode())
    return out


def finished(payload: dict[str, Any]) -> bool:
    return any(c.get("finishReason") for c in _candidates(payload))


class GeminiStreamTally:
    """`streamGenerateContent?alt=sse`: each event a whole GenerateContentResponse with the
    usage so far; the one with a finish reason is final. An `error` object is the
    provider's error event."""

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.done = False
        self.error: dict[str, Any] | None = None
        self.malformed = False
        self.rewrite: bytes | None = None
        self.usage: Usage | None = None
        self.finish: tuple[str, ...] = ()  # the final event's candidates' finishReason

    tool_runs: ToolRuns = ()
    stored_id: str | None = None

    def finish_reasons(self) -> tuple[str, ...]:
        return self.finish

    def feed(self, event: Any) -> bool:
        data = event.data
        if not data:
            return True
        try:
            chunk = orjson.loads(data)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            self.malformed = True
            return True
        if chunk.get("error") is not None:
            error = chunk["error"]
            self.error = error if isinstance(error, dict) else {"message": str(error)}
            return True
        self.text_parts += candidate_texts(chunk)
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = usage_from_gemini(chunk["usageMetadata"])
        if finished(chunk):
            self.done = True
            self.finish = finish_reasons(chunk)
        return True

    def reported(self) -> Usage | None:
        return self.usage

    @property
    def usage_final(self) -> bool:
        return self.done and self.usage is not None
