"""What an audio answer is billed: the provider's usage, else what Meterway measured.

A per-minute transcription without a `duration` usage is billed for the seconds Meterway
measured from the upload, rounded to the nearest second as OpenAI bills them. A token
transcription without usage is billed at the bounds it was reserved at, never a guessed
lower figure. A per-character speech call is billed for every character of its input.
"""

from __future__ import annotations

from billing.audio import (
    INPUT_AUDIO,
    TRANSCRIBE_INPUT_TOKENS,
    TRANSCRIBE_OUTPUT_TOKENS,
    characters_usage,
    seconds_usage,
    usage_from_transcription,
)
from billing.audio_duration import billed_seconds
from billing.pricing import ModelPrice
from billing.usage import Usage
from gateway.llm.audio_readers import per_second, recording_seconds, speech_input
from gateway.llm.endpoint import Body


def transcription_usage(price: ModelPrice, body: Body, answer: Body, input_tokens: int) -> Usage:
    raw = answer.get("usage")
    reported = usage_from_transcription(raw) if isinstance(raw, dict) else None
    if per_second(price):
        if reported is not None and reported.extra:
            return reported
        return seconds_usage(billed_seconds(recording_seconds(body)), measured=True)
    if reported is not None:
        return reported
    return Usage(
        input_tokens=input_tokens,
        output_tokens=TRANSCRIBE_OUTPUT_TOKENS,
        extra=((INPUT_AUDIO, TRANSCRIBE_INPUT_TOKENS),),
        source="counted",
    )


def speech_usage(price: ModelPrice, body: Body, answer: Body, input_tokens: int) -> Usage:
    return characters_usage(speech_input(body), input_tokens)
