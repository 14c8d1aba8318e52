"""Request readers of the routes that are not chat: moderations, images, speech.

Each validates what its API defines, refuses a field it cannot price with a 400 naming it,
and sizes the worst case: tokens where the model is priced in tokens, else the units it is
priced by (images of a size and quality, characters), as `Sizing.fees_micros`.
"""

from __future__ import annotations

from billing.metering.images import (
    GPT_IMAGE_QUALITIES,
    GPT_IMAGE_SIZES,
    INPUT_IMAGE,
    MAX_IMAGES,
    MAX_PARTIAL_IMAGES,
    OUTPUT_IMAGE,
    gpt_image_output_bound,
)
from billing.metering.tokens import TokenCounter
from billing.pricing import ModelPrice
from billing.pricing.units import IMAGE_QUALITIES, IMAGE_SIZES, image_key
from billing.values import replace
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


def _choice(body: Body, name: str, allowed: frozenset[str] | tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise InvalidRequest(f"'{name}' must be one of {choices}; got {value!r}.", param=name)
    return value


def _count(body: Body, name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be an integer from {low} to {high}.", param=name)
    return value


def per_image(price: ModelPrice) -> bool:
    """Priced per image by size and quality (DALL-E), not in tokens."""
    return any(key.startswith("images_") for key in price.priced_keys)


def image_limit(price: ModelPrice) -> int:
    """The most images one request may ask for: DALL-E 3 makes one at a time."""
    return 1 if price.upstream_model.startswith("dall-e-3") else MAX_IMAGES


def image_units(price: ModelPrice, body: Body) -> tuple[str, int]:
    """(unit key, n) of a per-image request; a size or quality the model has no price for
    is refused by name."""
    n = _count(body, "n", 1, image_limit(price), 1)
    priced = price.priced_keys
    sizes = tuple(s for s in IMAGE_SIZES if any(image_key(s, q) in priced for q in IMAGE_QUALITIES))
    size = _choice(body, "size", sizes, "1024x1024")
    qualities = tuple(q for q in IMAGE_QUALITIES if image_key(size, q) in priced)
    quality = _choice(body, "quality", qualities, "standard")
    return image_key(size, quality), n


def gpt_image_bound(body: Body) -> tuple[int, int]:
    """(n, output tokens of each image at most) of a GPT image request."""
    n = _count(body, "n", 1, MAX_IMAGES, 1)
    size = _choice(body, "size", GPT_IMAGE_SIZES, "auto")
    quality = _choice(body, "quality", GPT_IMAGE_QUALITIES, "auto")
    if not body.get("stream"):
        return n, gpt_image_output_bound(size, quality)
    if n != 1:
        raise InvalidRequest("'n' must be 1 on a streamed image request.", param="n")
    partial = _count(body, "partial_images", 0, MAX_PARTIAL_IMAGES, 0)
    return n, gpt_image_output_bound(size, quality, partial)


def _prompt_tokens(body: Body, price: ModelPrice, counter: TokenCounter, required: bool) -> int:
    prompt = body.get("prompt")
    if prompt is None and not required:
        return 0
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' must be a non-empty string.", param="prompt")
    return counter.count_text(price.encoding, prompt)


def image_sizing(
    body: Body, price: ModelPrice, counter: TokenCounter, input_images: int = 0, prompt: bool = True
) -> Sizing:
    """The worst case of an image request: n images at their unit price (DALL-E), or the
    prompt and input images in tokens and each image's output bound (GPT image models)."""
    tokens = _prompt_tokens(body, price, counter, prompt)
    if per_image(price):
        if body.get("stream") not in (None, False):
            raise InvalidRequest("'stream' is not supported by this model.", param="stream")
        key, n = image_units(price, body)
        return Sizing(tokens, 0, fees_micros=price.units_micros({key: n}))
    n, output = gpt_image_bound(body)
    tokens += input_images * price.image_max_tokens
    return Sizing(tokens, output, choices=n, kinds=(INPUT_IMAGE, OUTPUT_IMAGE))


def read_image_generation(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """POST /v1/images/generations: a prompt, and n images of a size and quality."""
    return image_sizing(body, price, counter)


def input_images(body: Body) -> int:
    """How many image files an edit sends (`image`, or several as `image[]`), a mask
    counted as one more; none is refused by name."""
    images = body.get("image[]", body.get("image"))
    files = images if isinstance(images, list) else [images]
    if not files or not all(isinstance(f, dict) and "bytes" in f for f in files):
        raise InvalidRequest("'image' must be one or more uploaded image files.", param="image")
    mask = body.get("mask")
    if mask is not None and not (isinstance(mask, dict) and "bytes" in mask):
        raise InvalidRequest("'mask' must be an uploaded image file.", param="mask")
    return len(files) + (mask is not None)


def read_image_edit(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """POST /v1/images/edits: a prompt, input images (each bounded at the model's image
    bound, more with `input_fidelity` high), and n images out."""
    images = input_images(body)
    if body.get("input_fidelity") not in (None, "low", "high"):
        raise InvalidRequest("'input_fidelity' must be low or high.", param="input_fidelity")
    sizing = image_sizing(body, price, counter, images)
    if body.get("input_fidelity") == "high" and not per_image(price):
        extra = images * gpt_image_output_bound("auto", "high")
        return replace(sizing, input_tokens=sizing.input_tokens + extra)
    return sizing


def read_image_variation(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """POST /v1/images/variations: DALL-E 2 only, one input image, n images out."""
    if not per_image(price):
        raise InvalidRequest(f"'{price.name}' makes no variations.", param="model")
    if not isinstance(body.get("image"), dict):
        raise InvalidRequest("'image' must be an uploaded image file.", param="image")
    return image_sizing(body, price, counter, prompt=False)
