"""What an image answer is billed: the request's units or the answer's tokens.

A DALL-E answer reports no usage: it is billed per image returned (at most `n`) at the size
and quality asked for. A GPT image answer reports its tokens; one that does not is billed
at the bound its reservation assumed for each image returned, never a guessed lower figure.
"""

from __future__ import annotations

from billing.metering.images import OUTPUT_IMAGE, usage_from_images
from billing.metering.usage import Usage
from billing.pricing import ModelPrice
from gateway.llm.endpoint import Body
from gateway.llm.media.readers import gpt_image_bound, image_units, per_image


def images_made(answer: Body, asked: int) -> int:
    """The images an answer carries (its `data` items), at most the `asked` for."""
    data = answer.get("data")
    return min(len(data), asked) if isinstance(data, list) else asked


def image_usage(price: ModelPrice, body: Body, answer: Body, input_tokens: int) -> Usage:
    """The usage billed for one image answer."""
    if per_image(price):
        key, n = image_units(price, body)
        made = images_made(answer, n)
        return Usage(input_tokens=input_tokens, extra=((key, made),), source="counted")
    raw = answer.get("usage")
    reported = usage_from_images(raw) if isinstance(raw, dict) else None
    if reported is not None:
        return reported
    n, bound = gpt_image_bound(body)
    output = bound * images_made(answer, n)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output,
        extra=((OUTPUT_IMAGE, output),),
        source="counted",
    )
