"""What a request asks to be billed for beyond text tokens, so its reservation assumes it.

Each is looked for only when the model has a price of its own for it (otherwise those
tokens bill at the text rates the worst case already assumes): 1-hour prompt-cache writes
(any `cache_control`, on the request or a block: the provider may write an hour's cache where
the request asked for five minutes, and bills what it wrote), audio output (`modalities`,
`audio`, Gemini's `responseModalities` or `speechConfig`), and audio and image input parts.
Image and video output are assumed whenever the model prices them: such a model (Gemini's
image models) may answer with images unasked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from billing.pricing import ModelPrice

CACHE_1H = "cache_write_1h_tokens"
AUDIO_IN = "input_audio_tokens"
AUDIO_OUT = "output_audio_tokens"
IMAGE_IN = "input_image_tokens"
# Output a model may make unasked where it prices it, by its price key.
UNASKED_OUTPUT = {
    "output_image_tokens": "output_image_mtok",
    "output_video_tokens": "output_video_mtok",
}
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


def _asks_cache(body: dict[str, Any]) -> bool:
    """Any `cache_control`, whatever its ttl: Anthropic reports (and bills) 1-hour writes
    (`cache_creation.ephemeral_1h_input_tokens`) a request did not declare, so the hold
    assumes the 1-hour rate wherever a write may happen at all."""
    if body.get("cache_control") is not None:
        return True
    return any(isinstance(b, dict) and b.get("cache_control") is not None for b in _blocks(body))


def _has_part(body: dict[str, Any], kinds: frozenset[str]) -> bool:
    return any(isinstance(b, dict) and b.get("type") in kinds for b in _blocks(body))


def _asks_audio_output(body: dict[str, Any]) -> bool:
    modalities = body.get("modalities")
    asked = body.get("audio") is not None or (
        isinstance(modalities, list) and "audio" in modalities
    )
    return asked or "AUDIO" in output_modalities(body)


def output_modalities(body: dict[str, Any]) -> frozenset[str]:
    """What a Gemini request asks its answer to be made of beyond text (upper case):
    `generationConfig.responseModalities`, and AUDIO when it configures a voice."""
    config = body.get("generationConfig", body.get("generation_config"))
    if not isinstance(config, dict):
        return frozenset()
    raw = config.get("responseModalities", config.get("response_modalities"))
    asked = {str(m).upper() for m in raw} if isinstance(raw, list) else set()
    if config.get("speechConfig", config.get("speech_config")) is not None:
        asked.add("AUDIO")
    return frozenset(asked - {"TEXT"})


def billed_kinds(body: dict[str, Any], price: ModelPrice) -> tuple[str, ...]:
    """The usage keys beyond text this request may be billed for at rates of their own."""
    kinds = []
    priced = price.priced_keys
    if "cache_write_1h_mtok" in priced and _asks_cache(body):
        kinds.append(CACHE_1H)
    if "input_audio_mtok" in priced and _has_part(body, frozenset({"input_audio"})):
        kinds.append(AUDIO_IN)
    if "input_image_mtok" in priced and _has_part(body, IMAGE_PARTS):
        kinds.append(IMAGE_IN)
    if _asks_audio_output(body):
        kinds.append(AUDIO_OUT)
    kinds += [key for key, price_key in UNASKED_OUTPUT.items() if price_key in priced]
    return tuple(kinds)
