"""What an image request may cost, and what its answer says it cost.

Two ways of pricing images coexist. DALL-E models are priced per image by size and quality
(Meterway's `images_SIZE_QUALITY` units, config/pricing.toml). GPT image models are priced
in tokens: text and image input tokens, and image output tokens the answer's `usage`
reports; before the call the output is bounded by OpenAI's published table of output tokens
per image of each quality and size, plus 100 tokens per partial image a stream asks for.
"""

from __future__ import annotations

from billing.metering.final_event import FinalEventTally
from billing.metering.usage import Usage, usage_from_openai
from billing.values import replace

# Output tokens of one image (OpenAI's image generation guide, "Cost and latency").
GPT_IMAGE_OUTPUT = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
GPT_IMAGE_SIZES = frozenset({"1024x1024", "1024x1536", "1536x1024", "auto"})
GPT_IMAGE_QUALITIES = frozenset({"low", "medium", "high", "auto"})
PARTIAL_IMAGE_TOKENS = 100  # each partial image a stream sends costs this many output tokens
MAX_PARTIAL_IMAGES = 3
MAX_IMAGES = 10  # `n`'s upper limit on every image endpoint
OUTPUT_IMAGE = "output_image_tokens"
INPUT_IMAGE = "input_image_tokens"


def gpt_image_output_bound(size: str, quality: str, partial_images: int = 0) -> int:
    """Output tokens one image of `size` and `quality` may cost at most ("auto" either way
    is the dearest), partial images included."""
    by_size = GPT_IMAGE_OUTPUT["high" if quality == "auto" else quality]
    tokens = max(by_size.values()) if size == "auto" else by_size[size]
    return tokens + PARTIAL_IMAGE_TOKENS * partial_images


def usage_from_images(obj: dict[str, object]) -> Usage | None:
    """A GPT image answer's usage: input tokens with their image part, and output tokens,
    which are image tokens unless `output_tokens_details` says some are text."""
    usage = usage_from_openai(obj)
    if usage is None or usage.output_tokens == 0:
        return usage
    if any(key == OUTPUT_IMAGE for key, _ in usage.extra):
        return usage
    if isinstance(obj.get("output_tokens_details"), dict):
        return usage  # details given without image tokens: all text
    return replace(usage, extra=(*usage.extra, (OUTPUT_IMAGE, usage.output_tokens)))


COMPLETED = frozenset({"image_generation.completed", "image_edit.completed"})


def image_stream_tally() -> FinalEventTally:
    """A streamed image generation or edit: partial images, then one `*.completed` event
    whose `usage` is the bill (held, and carrying the debit to the client)."""
    return FinalEventTally(COMPLETED, usage_from_images)
