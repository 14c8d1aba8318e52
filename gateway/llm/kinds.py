"""What a request asks to be billed for beyond text tokens, so its reservation assumes it.

Each is looked for only when the model has a price of its own for it (otherwise those
tokens bill at the text rates the worst case already assumes): 1-hour prompt-cache writes
(`cache_control.ttl = "1h"` on any block), audio output (`modalities`, `audio`), and audio
and image input parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from billing.pricing import ModelPrice

CACHE_1H = "cache_write_1h_tokens"
AUDIO_IN = "input_audio_tokens"
AUDIO_OUT = "output_audio_tokens"
IMAGE_IN = "input_image_tokens"
IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


def _blocks(body: dict[str, Any]) -> Iterator[object]:
    """Every block that may carry cache_control: system, tools, and message content."""
    for name in ("system", "tools"):
        value = body.get(name)
        if isinstance(value, list):
            yield from value
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, list):
                yield from content


def _asks_1h_cache(body: dict[str, Any]) -> bool:
    for block in _blocks(body):
        control = block.get("cache_control") if isinstance(block, dict) else None
        if isinstance(control, dict) and control.get("ttl") == "1h":
            return True
    return False


def _has_part(body: dict[str, Any], kinds: frozenset[str]) -> bool:
    return any(isinstance(b, dict) and b.get("type") in kinds for b in _blocks(body))


def _asks_audio_output(body: dict[str, Any]) -> bool:
    modalities = body.get("modalities")
    return body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities)


def billed_kinds(body: dict[str, Any], price: ModelPrice) -> tuple[str, ...]:
    """The usage keys beyond text this request may be billed for at rates of their own."""
    kinds = []
    priced = price.priced_keys
    if "cache_write_1h_mtok" in priced and _asks_1h_cache(body):
        kinds.append(CACHE_1H)
    if "input_audio_mtok" in priced and _has_part(body, frozenset({"input_audio"})):
        kinds.append(AUDIO_IN)
    if "input_image_mtok" in priced and _has_part(body, IMAGE_PARTS):
        kinds.append(IMAGE_IN)
    if _asks_audio_output(body):
        kinds.append(AUDIO_OUT)
    return tuple(kinds)
