"""Request readers of the routes that are not chat: moderations, images, speech.

Each validates what its API defines, refuses a field it cannot price with a 400 naming it,
and sizes the worst case: tokens where the model is priced in tokens, else the units it is
priced by (images of a size and quality, characters), as `Sizing.fees_micros`.
"""

from __future__ import annotations

from billing.pricing import ModelPrice
from billing.tokens import TokenCounter
from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body, Sizing


def no_stream(body: Body) -> None:
    """These APIs answer in one piece: a `stream` asking otherwise is not guessed at."""
    if body.get("stream") not in (None, False):
        raise InvalidRequest("'stream' is not supported on this endpoint.", param="stream")


def _moderation_parts(data: object) -> list[object]:
    if isinstance(data, str) and data:
        return [data]
    if isinstance(data, list) and data:
        return data
    raise InvalidRequest("'input' must be a non-empty string or array.", param="input")


def read_moderation(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """Text inputs counted, each image at the model's bound: what a priced moderation model
    would bill (most are free, and then this only feeds token windows)."""
    no_stream(body)
    tokens = 0
    for part in _moderation_parts(body.get("input")):
        if isinstance(part, str):
            tokens += counter.count_text(price.encoding, part)
        elif isinstance(part, dict) and part.get("type") == "text":
            tokens += counter.count_text(price.encoding, str(part.get("text") or ""))
        elif isinstance(part, dict) and part.get("type") == "image_url":
            tokens += price.image_max_tokens
        else:
            raise InvalidRequest("Each input must be a string, text or image_url.", param="input")
    return Sizing(tokens, 0)
