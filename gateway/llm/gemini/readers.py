"""Reading a Gemini `generateContent` request: validate it and size its worst case.

Contents and the system instruction are counted as chat messages (text, function calls and
results as their JSON; an inline or file image as one image at the model's bound). Audio,
video and documents are billed by Google per second or page, which a request's bytes do not
bound: such parts are refused by name rather than reserved at a guess. The output bound is
`generationConfig.maxOutputTokens` (thinking included, as Gemini counts it) or the model's
cap, times `candidateCount`.
"""

from __future__ import annotations

import json
from typing import Any

from billing.metering.tokens import TokenCounter
from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.reading.kinds import IMAGE_IN
from gateway.llm.reading.readers import output_bound, positive_int

PROMPT_FIELDS = ("tools", "toolConfig")


def _media(part: dict[str, Any], where: str) -> dict[str, Any]:
    """An image part as the chat counter sizes one; any other medium refused by name."""
    blob = part.get("inlineData") or part.get("fileData")
    mime = blob.get("mimeType") if isinstance(blob, dict) else None
    if isinstance(mime, str) and mime.startswith("image/"):
        return {"type": "image_url"}
    raise InvalidRequest(
        f"{where}: only text and image parts are metered (not {mime or 'this part'}).",
        param="contents",
    )


def _part(part: object, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise InvalidRequest(f"{where} must be an object.", param="contents")
    if isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if "inlineData" in part or "fileData" in part:
        return _media(part, where)
    return {"type": "text", "text": str(part)}  # function calls and results, as JSON-ish


def _content(content: object, where: str) -> dict[str, Any]:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise InvalidRequest(f"{where} must be an object with 'parts'.", param="contents")
    parts = [_part(p, f"{where}.parts[{i}]") for i, p in enumerate(content["parts"])]
    return {"role": str(content.get("role") or "user"), "content": parts}


def _messages(body: Body) -> list[dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("'contents' must be a non-empty array.", param="contents")
    messages = [_content(c, f"contents[{i}]") for i, c in enumerate(contents)]
    system = body.get("systemInstruction", body.get("system_instruction"))
    if system is not None:
        messages.insert(0, _content(system, "systemInstruction"))
    return messages


def _config(body: Body) -> dict[str, Any]:
    config = body.get("generationConfig", body.get("generation_config")) or {}
    if not isinstance(config, dict):
        raise InvalidRequest("'generationConfig' must be an object.", param="generationConfig")
    return config


def read_gemini(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    config = _config(body)
    out = positive_int(config, "maxOutputTokens")
    if out is not None and price.max_output_tokens and out > price.max_output_tokens:
        raise InvalidRequest(
            f"'maxOutputTokens' is {out}, above {price.name}'s limit of {price.max_output_tokens}.",
            param="generationConfig.maxOutputTokens",
        )
    choices = positive_int(config, "candidateCount") or 1
    enc = price.encoding
    messages = _messages(body)
    tokens = counter.count_chat_prompt(enc, messages, price.image_max_tokens)
    extra = [body[name] for name in PROMPT_FIELDS if body.get(name)]
    if extra:
        tokens += counter.count_text(enc, json.dumps(extra, ensure_ascii=False))
    bound = output_bound(out, price)
    kinds = (IMAGE_IN,) if "input_image_mtok" in price.priced_keys and _images(messages) else ()
    return Sizing(tokens, bound, "maxOutputTokens" if out else None, choices, kinds=kinds)


def _images(messages: list[dict[str, Any]]) -> bool:
    return any(p["type"] == "image_url" for m in messages for p in m["content"])
