"""Image bounds and usage, pure: OpenAI's table of output tokens per image, and answers
that do or do not split their output tokens."""

from __future__ import annotations

from dataclasses import dataclass

from billing.metering.images import gpt_image_output_bound, image_stream_tally, usage_from_images


@dataclass
class Event:
    data: str
    event: str | None = None


def test_the_output_bound_is_the_published_table_plus_partial_images() -> None:
    assert gpt_image_output_bound("1024x1024", "low") == 272
    assert gpt_image_output_bound("1536x1024", "medium") == 1568
    assert gpt_image_output_bound("auto", "auto") == 6240  # high, portrait: the dearest
    assert gpt_image_output_bound("1024x1024", "high", partial_images=3) == 4160 + 300


def test_output_tokens_are_image_tokens_unless_the_details_split_them() -> None:
    plain: dict[str, object] = {"input_tokens": 12, "output_tokens": 4160}
    assert usage_from_images(plain).extra == (("output_image_tokens", 4160),)  # type: ignore[union-attr]
    split = {
        "input_tokens": 12,
        "input_tokens_details": {"image_tokens": 2, "text_tokens": 10},
        "output_tokens": 300,
        "output_tokens_details": {"image_tokens": 272, "text_tokens": 28},
    }
    usage = usage_from_images(split)
    assert usage is not None and dict(usage.extra) == {
        "input_image_tokens": 2,
        "output_image_tokens": 272,
    }


def test_a_stream_is_final_at_its_completed_event() -> None:
    tally = image_stream_tally()
    tally.feed(Event('{"type": "image_generation.partial_image", "b64_json": "x"}'))
    assert not tally.usage_final
    usage = '"usage": {"input_tokens": 3, "output_tokens": 9}'
    tally.feed(Event('{"type": "image_generation.completed", ' + usage + "}"))
    assert tally.usage_final and tally.reported() is not None
    assert tally.reported().output_tokens == 9
    broken = image_stream_tally()
    broken.feed(Event("{not json"))
    assert broken.malformed
