"""What an audio answer is billed: the provider's usage, else what Meterway measured.

A per-minute transcription without a `duration` usage is billed for the seconds Meterway
measured from the upload, rounded to the nearest second as OpenAI bills them; one whose
provider reports more than was reserved (measured + SECONDS_MARGIN) is billed, and recorded,
at that bound. A token
transcription without usage is billed at the bounds it was reserved at, never a guessed
lower figure. A per-character speech call is billed for every character of its input.
"""

from __future__ import annotations

import logging

from billing.metering.audio import (
    AUDIO_SECONDS,
    INPUT_AUDIO,
    TRANSCRIBE_INPUT_TOKENS,
    TRANSCRIBE_OUTPUT_TOKENS,
    characters_usage,
    seconds_usage,
    usage_from_transcription,
)
from billing.metering.audio_duration import billed_seconds
from billing.metering.usage import Usage
from billing.pricing import ModelPrice
from gateway.llm.endpoint import Body
from gateway.llm.media.audio_readers import (
    SECONDS_MARGIN,
    per_second,
    recording_seconds,
    speech_input,
)

log = logging.getLogger("meterway.audio")


def transcription_usage(price: ModelPrice, body: Body, answer: Body, input_tokens: int) -> Usage:
    raw = answer.get("usage")
    reported = usage_from_transcription(raw) if isinstance(raw, dict) else None
    if per_second(price):
        return _per_second_usage(reported, billed_seconds(recording_seconds(body)))
    if reported is not None:
        return reported
    return Usage(
        input_tokens=input_tokens,
        output_tokens=TRANSCRIBE_OUTPUT_TOKENS,
        extra=((INPUT_AUDIO, TRANSCRIBE_INPUT_TOKENS),),
        source="counted",
    )


def _per_second_usage(reported: Usage | None, measured: int) -> Usage:
    """The provider's seconds, at most what was reserved (the measured seconds and the
    encoder-padding margin): the debit is capped there, so the ledger records the seconds
    it charges, never more. None reported: the measured seconds."""
    seconds = dict(reported.extra).get(AUDIO_SECONDS) if reported is not None else None
    if seconds is None:
        return seconds_usage(measured, measured=True)
    most = measured + SECONDS_MARGIN
    if seconds <= most:
        return seconds_usage(seconds)
    log.warning("provider reports %d s for a recording measured at %d s: billing %d s",
                seconds, measured, most)  # fmt: skip
    return seconds_usage(most, measured=True)


def speech_usage(price: ModelPrice, body: Body, answer: Body, input_tokens: int) -> Usage:
    return characters_usage(speech_input(body), input_tokens)
