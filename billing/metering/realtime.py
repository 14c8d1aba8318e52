"""A Realtime session's money: what the next response may cost at most, and what one cost.

OpenAI's Realtime API keeps a conversation: every response reads all of it again (text and
audio, earlier answers included), so the worst case of a response is the conversation so far
plus its output cap. The conversation's size is known exactly after each `response.done`
(its input plus its output tokens); what was added since is estimated here: text by the
tokenizer, audio from its bytes at the format's rate and `AUDIO_TOKENS_PER_SECOND`.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.metering.usage import MalformedUsage, Usage, token_count, usage_from_openai
from billing.values import replace

# Bytes of one second of audio, by the session's audio format (`audio/pcm` is 24 kHz 16-bit
# mono; G.711 is 8 kHz, one byte a sample). An unknown format is assumed the densest in
# tokens per byte, G.711's.
AUDIO_BYTES_PER_SECOND = {
    "audio/pcm": 48_000,
    "pcm16": 48_000,
    "audio/pcmu": 8_000,
    "audio/pcma": 8_000,
    "g711_ulaw": 8_000,
    "g711_alaw": 8_000,
}
SLOWEST_AUDIO_BYTES = 8_000
# OpenAI counts user audio at 10 tokens a second and the model's at 20: every second of
# audio is estimated at the higher rate, so the estimate is never below the count.
AUDIO_TOKENS_PER_SECOND = 20
# The model's output cap per response when the catalogue gives none (gpt-realtime's).
DEFAULT_OUTPUT_CAP = 32_768
# The worst case assumes every token at its dearest kind: audio in, audio out.
KINDS = ("input_audio_tokens", "output_audio_tokens")
# A transcript's output cap: gpt-4o-transcribe writes at most 2,000 tokens of one.
TRANSCRIPT_CAP = 4096


def audio_tokens(nbytes: int, audio_format: str) -> int:
    """Tokens `nbytes` of audio in `audio_format` may count as, rounded up."""
    per_second = AUDIO_BYTES_PER_SECOND.get(audio_format, SLOWEST_AUDIO_BYTES)
    return -(-nbytes * AUDIO_TOKENS_PER_SECOND // per_second)


def base64_bytes(text_length: int) -> int:
    """The bytes a base64 text of `text_length` characters decodes to, at most."""
    return text_length * 3 // 4


def output_cap(session_cap: object, model_cap: int) -> int:
    """A response's output cap: the session's `max_output_tokens` (or the older
    `max_response_output_tokens`) when a whole number below the model's, else the model's
    (`"inf"` asks for the model's)."""
    cap = model_cap or DEFAULT_OUTPUT_CAP
    if isinstance(session_cap, int) and not isinstance(session_cap, bool) and session_cap > 0:
        return min(session_cap, cap)
    return cap


def response_usage(obj: object) -> Usage | None:
    """`response.done`'s `response.usage` (or a transcription's token usage) as billed: the
    input's text, audio and cached parts, the output's text and audio. None when absent or
    malformed (the caller bills what it counted)."""
    if not isinstance(obj, dict):
        return None
    spelled = {**obj}  # the Realtime API's `input_token_details`, the Responses API's name
    for ours, theirs in (
        ("input_tokens_details", "input_token_details"),
        ("output_tokens_details", "output_token_details"),
    ):
        if theirs in obj:
            spelled[ours] = obj[theirs]
    usage = usage_from_openai(spelled, output_required=False)
    if usage is None:
        return None
    try:
        parts = _cached_parts(obj)
    except MalformedUsage:
        return None
    if not parts:
        return usage
    # the cached audio and image tokens, a part of the cached ones (genai-prices' realtime
    # extractor reads them so): priced at their own cache rates, not as images or audio again
    room, cached = usage.cached_input_tokens, []
    for key, tokens in parts:
        cached.append((key, min(tokens, room)))
        room -= cached[-1][1]
    return replace(usage, extra=tuple(sorted((*usage.extra, *cached))))


CACHED_PARTS = (
    ("audio_tokens", "cache_audio_read_tokens"),
    ("image_tokens", "cache_image_read_tokens"),
)


def _cached_parts(obj: dict[str, object]) -> list[tuple[str, int]]:
    details = obj.get("input_token_details")
    if not isinstance(details, dict):
        return []
    cached = details.get("cached_tokens_details")
    if cached is None:
        return []
    if not isinstance(cached, dict):
        raise MalformedUsage(cached)
    found = [(key, token_count(cached.get(field))) for field, key in CACHED_PARTS]
    return [(key, tokens) for key, tokens in found if tokens]


@dataclass(slots=True)
class Conversation:
    """The conversation's size in tokens: exact up to the last response, estimated since."""

    known: int = 0  # input + output tokens of the last response.done
    added: int = 0  # estimated tokens added since (items, audio, instructions)

    @property
    def input_tokens(self) -> int:
        return self.known + self.added

    def add(self, tokens: int) -> None:
        self.added += tokens

    def answered(self, usage: Usage, added_at_hold: int) -> None:
        """A response in the conversation finished: its input and output are now the
        conversation's, exactly; what was added after its hold was taken is still an
        estimate. The size only grows: a response's report never shrinks what later ones
        are held for (an out-of-band response is not the conversation, and is not told)."""
        self.known = max(self.known, usage.total_input_tokens + usage.output_tokens)
        self.added = max(self.added - added_at_hold, 0)


def produced_usage(input_tokens: int, text_tokens: int, audio_tokens_out: int) -> Usage:
    """What a response made, counted by the gateway, when the provider never said (the client
    left and the provider did not finish in time): its input as estimated, its output as
    relayed. Audio output is billed at the audio rate."""
    output = text_tokens + audio_tokens_out
    extra = (("output_audio_tokens", audio_tokens_out),) if audio_tokens_out else ()
    return Usage(input_tokens=input_tokens, output_tokens=output, source="counted", extra=extra)
