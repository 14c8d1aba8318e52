"""What audio calls are billed for, read from answers or from the request itself.

Transcriptions report one of two usages (OpenAI's `Transcription.usage`): `duration` in
seconds for per-minute models (whisper-1), or `tokens` with the audio part of the input for
token-priced ones (gpt-4o-transcribe, gpt-4o-mini-transcribe). Speech is billed per input
character (tts-1, tts-1-hd: the request says how many) or in tokens (gpt-4o-mini-tts, whose
usage only its server-sent events report).

Token-priced transcription is reserved at the model's own bounds: its context window of
audio and text input and its output cap (OpenAI's model pages: 16,000 and 2,000 tokens).
"""

from __future__ import annotations

from fractions import Fraction

from billing.metering.audio_duration import billed_seconds
from billing.metering.final_event import FinalEventTally
from billing.metering.usage import MAX_USAGE_TOKENS, Usage, usage_from_openai

AUDIO_SECONDS = "audio_seconds"
INPUT_AUDIO = "input_audio_tokens"
CHARACTERS = "input_characters"
TRANSCRIBE_INPUT_TOKENS = 16_000
TRANSCRIBE_OUTPUT_TOKENS = 2_000


def seconds_usage(seconds: int, measured: bool = False) -> Usage:
    """`seconds` of audio; `measured` when Meterway measured them, not the provider."""
    return Usage(extra=((AUDIO_SECONDS, seconds),), source="counted" if measured else "provider")


def usage_from_transcription(obj: dict[str, object]) -> Usage | None:
    """The usage a transcription answer (or its final stream event) reports, None if none
    or malformed."""
    if obj.get("type") == "duration":
        seconds = obj.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return None
        if not 0 <= seconds <= MAX_USAGE_TOKENS:
            return None
        return seconds_usage(billed_seconds(Fraction(seconds)))
    details = obj.get("input_token_details")
    usage = usage_from_openai({**obj, "input_tokens_details": details})
    if usage is None or not isinstance(details, dict):
        return usage
    audio = details.get("audio_tokens")
    if isinstance(audio, int) and not isinstance(audio, bool) and 0 < audio <= usage.input_tokens:
        return Usage(
            input_tokens=usage.input_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens,
            extra=((INPUT_AUDIO, audio),),
        )
    return usage


def transcript_stream_tally() -> FinalEventTally:
    """A streamed transcription: text deltas, then `transcript.text.done` with its usage."""
    return FinalEventTally(
        frozenset({"transcript.text.done"}),
        usage_from_transcription,
        frozenset({"transcript.text.delta"}),
    )


def usage_from_speech(obj: dict[str, object]) -> Usage | None:
    return usage_from_openai(obj)


def speech_stream_tally() -> FinalEventTally:
    """Speech as server-sent events: audio deltas, then `speech.audio.done` with usage."""
    return FinalEventTally(frozenset({"speech.audio.done"}), usage_from_speech)


def characters_usage(text: str, input_tokens: int) -> Usage:
    """A per-character speech call: every character of its input (code points)."""
    return Usage(input_tokens=input_tokens, extra=((CHARACTERS, len(text)),), source="counted")
