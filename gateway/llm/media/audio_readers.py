"""Request readers of the audio routes: transcriptions and translations (multipart uploads)
and speech (JSON).

Per-minute models (whisper-1) are reserved for the duration Meterway measured from the
upload (a format it cannot measure is refused by name: the bill would be a guess); token
models at their own bounds. Speech is reserved per character (tts-1, exact before the call)
or in tokens (gpt-4o-mini-tts, whose usage only its server-sent events report: without
`stream_format: "sse"` the provider is asked for them and the client gets the audio they
carry, assembled, http/proxy/media.py).
"""

from __future__ import annotations

from fractions import Fraction

from billing.metering.audio import (
    AUDIO_SECONDS,
    CHARACTERS,
    INPUT_AUDIO,
    TRANSCRIBE_INPUT_TOKENS,
    TRANSCRIBE_OUTPUT_TOKENS,
)
from billing.metering.audio_duration import billed_seconds
from billing.metering.tokens import TokenCounter
from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body, Sizing

MAX_SPEECH_CHARACTERS = 4096  # OpenAI's limit on `input`
SPEECH_OUTPUT_TOKENS = 2_000  # gpt-4o-mini-tts's output cap
JSON_FORMATS = frozenset({"json", "verbose_json", "diarized_json"})
SPEECH_FORMATS = frozenset({"mp3", "opus", "aac", "flac", "wav", "pcm"})
# A provider may report a second or two more than the frames sum to (encoder padding).
SECONDS_MARGIN = 2


def per_second(price: ModelPrice) -> bool:
    return "audio_hours" in price.priced_keys or "input_audio_hours" in price.priced_keys


def per_character(price: ModelPrice) -> bool:
    return "input_mchars" in price.priced_keys


def _text(body: Body, name: str, price: ModelPrice, counter: TokenCounter) -> int:
    value = body.get(name)
    if value is None:
        return 0
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    return counter.count_text(price.encoding, value)


def recording_seconds(body: Body) -> Fraction:
    """The measured duration of the upload's `file`, or the 400 saying why there is none."""
    file = body.get("file")
    if not isinstance(file, dict) or "bytes" not in file:
        raise InvalidRequest("'file' must be an uploaded audio file.", param="file")
    seconds = file.get("seconds")
    if not isinstance(seconds, Fraction):
        name = file.get("filename")
        raise InvalidRequest(
            f"Meterway cannot measure how long '{name}' plays, and this model is billed per "
            "minute of audio: send it as WAV or MP3.",
            param="file",
        )
    return seconds


def read_transcription(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """POST /v1/audio/transcriptions and /translations: an audio file, billed per second
    of it or in tokens."""
    prompt = _text(body, "prompt", price, counter)
    if per_second(price):
        if body.get("stream"):
            raise InvalidRequest("'stream' is not supported by this model.", param="stream")
        seconds = billed_seconds(recording_seconds(body)) + SECONDS_MARGIN
        return Sizing(prompt, 0, fees_micros=price.units_micros({AUDIO_SECONDS: seconds}))
    file = body.get("file")
    if not isinstance(file, dict) or "bytes" not in file:
        raise InvalidRequest("'file' must be an uploaded audio file.", param="file")
    if body.get("response_format", "json") not in JSON_FORMATS:
        raise InvalidRequest(
            f"'{price.name}' is billed in tokens, which it reports only in a JSON answer: "
            "ask for response_format json.",
            param="response_format",
            extra={"unpriced_option": "response_format"},
        )
    return Sizing(TRANSCRIBE_INPUT_TOKENS + prompt, TRANSCRIBE_OUTPUT_TOKENS, kinds=(INPUT_AUDIO,))


def speech_input(body: Body) -> str:
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequest("'input' must be a non-empty string.", param="input")
    if len(text) > MAX_SPEECH_CHARACTERS:
        raise InvalidRequest(
            f"'input' is longer than {MAX_SPEECH_CHARACTERS} characters.", param="input"
        )
    return text


def read_speech(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """POST /v1/audio/speech: the input text read aloud."""
    text = speech_input(body)
    if not isinstance(body.get("voice"), str | dict):
        raise InvalidRequest("'voice' is required.", param="voice")
    fmt = body.get("response_format", "mp3")
    if fmt not in SPEECH_FORMATS:
        raise InvalidRequest(
            f"'response_format' {fmt!r} is not a speech format.", param="response_format"
        )
    sse = body.get("stream_format") == "sse"
    if body.get("stream_format") not in (None, "audio", "sse"):
        raise InvalidRequest("'stream_format' must be audio or sse.", param="stream_format")
    tokens = counter.count_text(price.encoding, text) + _text(body, "instructions", price, counter)
    if per_character(price):
        if sse:
            raise InvalidRequest(
                "'stream_format' sse is not supported by this model.", param="stream_format"
            )
        return Sizing(tokens, 0, fees_micros=price.units_micros({CHARACTERS: len(text)}))
    if not sse:  # its usage is only in the events: asked for them, answered with the audio
        return Sizing(tokens, SPEECH_OUTPUT_TOKENS, streams=False, assembled=True)
    return Sizing(tokens, SPEECH_OUTPUT_TOKENS, streams=True)
