"""Every usage field a provider bills by is read and priced, checked against the catalogue's
own extractors and calculator (`genai_prices`: `Provider.extract_usage`, `calc_price`):
Gemini's parts by modality, xAI's reasoning outside the completion, Anthropic's undeclared
1-hour cache writes; and what is reserved covers each of them. Recordings are measured from
their own content, and a per-second debit records the seconds it charges."""

from __future__ import annotations

import io
import math
import wave
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
import pytest
from genai_prices import data as catalogue_data

from billing.metering.audio_duration import InconsistentRecording, wav_seconds
from billing.metering.gemini import usage_from_gemini
from billing.metering.stream_tally import OpenAIStreamTally
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage, usage_from_anthropic, usage_from_openai
from billing.pricing import ModelPrice, parse_pricing
from gateway.errors import InvalidRequest
from gateway.llm.endpoints import CHAT, GEMINI, XAI_CHAT
from gateway.llm.media.audio_answers import transcription_usage
from gateway.llm.media.audio_readers import read_transcription
from gateway.llm.reading.calls import read_call
from gateway.llm.reading.kinds import billed_kinds
from gateway.llm.sse import SSEEvent
from gateway.stores.records import KeyRecord
from tests.unit.test_pricing import PROVIDERS

TABLE = parse_pricing({}, PROVIDERS, {"xai": "x-ai"}, {"google": "gemini", "xai": "openai"})
KEY = KeyRecord("k", "a", 0, "k", (), ())
COUNTER = TokenCounter()
AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def served(name: str) -> ModelPrice:
    price = TABLE.lookup(name)
    assert price is not None, name
    return price


def oracle_micros(provider: str, flavor: str, model: str, answer: dict[str, Any]) -> int:
    """The catalogue's price of an answer, read by its own extractor, in micros rounded up."""
    found = next(p for p in catalogue_data.providers if p.id == provider)
    _, usage = found.extract_usage(answer, api_flavor=flavor)
    info = found.find_model(model)
    assert info is not None, model
    total: Decimal = info.get_prices(AT).calc_price(usage)["total_price"]
    return math.ceil(total * 1_000_000)


def at_ms() -> int:
    return int(AT.timestamp() * 1000)


# ---------------------------------------------------------------- Gemini, by modality

IMAGE_ANSWER = {
    "promptTokenCount": 300,
    "candidatesTokenCount": 1400,
    "totalTokenCount": 1700,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 300}],
    "candidatesTokensDetails": [
        {"modality": "IMAGE", "tokenCount": 1290},
        {"modality": "TEXT", "tokenCount": 110},
    ],
}


def _gemini(model: str, usage: dict[str, Any]) -> tuple[int, int]:
    """(Meterway's cost, the catalogue's) of a Gemini answer's usageMetadata."""
    read = usage_from_gemini(usage)
    assert read is not None
    ours = served(model).cost_micros(read, at_ms())
    theirs = oracle_micros(
        "google", "default", model, {"modelVersion": model, "usageMetadata": usage}
    )
    return ours, theirs


def test_gemini_image_output_bills_at_the_image_rate() -> None:
    """gemini-2.5-flash-image: 1,290 of 1,400 candidate tokens are an image, at $30/M, not
    the $2.50/M of text (3,590 micros at the text rate)."""
    assert _gemini("gemini-2.5-flash-image", IMAGE_ANSWER) == (39_065, 39_065)


def test_gemini_audio_input_and_cached_audio_bill_at_their_rates() -> None:
    usage = {
        "promptTokenCount": 20_000,
        "cachedContentTokenCount": 8_000,
        "candidatesTokenCount": 700,
        "thoughtsTokenCount": 300,
        "promptTokensDetails": [
            {"modality": "AUDIO", "tokenCount": 15_000},
            {"modality": "TEXT", "tokenCount": 5_000},
        ],
        "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 6_000}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 700}],
    }
    # 9,000 fresh audio at $1/M, 6,000 cached audio at $0.10/M, 2,000 cached text at
    # $0.03/M, 3,000 text at $0.30/M, 1,000 output at $2.50/M.
    assert _gemini("gemini-2.5-flash", usage) == (13_060, 13_060)
    text_only = {k: v for k, v in usage.items() if "Details" not in k}
    assert _gemini("gemini-2.5-flash", text_only) == (6_340, 6_340)


def test_gemini_parts_never_sum_above_their_count() -> None:
    """A provider claiming more image tokens than the answer has bills no more than the
    answer, all of it at the image rate."""
    usage = usage_from_gemini(
        {
            "promptTokenCount": 10,
            "candidatesTokenCount": 100,
            "candidatesTokensDetails": [
                {"modality": "IMAGE", "tokenCount": 90},
                {"modality": "VIDEO", "tokenCount": 90},
            ],
        }
    )
    assert usage is not None
    assert usage.extra == (("output_image_tokens", 90), ("output_video_tokens", 10))


@pytest.mark.parametrize(
    "details",
    [{"modality": "IMAGE", "tokenCount": -1}, {"modality": 3, "tokenCount": 1}, "IMAGE"],
)
def test_malformed_modality_details_are_no_usage(details: object) -> None:
    raw = {"promptTokenCount": 5, "candidatesTokenCount": 5, "candidatesTokensDetails": [details]}
    assert usage_from_gemini(raw) is None


def _generate(model: str, config: dict[str, Any]) -> dict[str, Any]:
    contents = [{"role": "user", "parts": [{"text": "draw a cat"}]}]
    return {"model": model, "contents": contents, "generationConfig": config}


def test_an_image_model_is_held_at_its_image_output_rate() -> None:
    """gemini-2.5-flash-image may answer with an image unasked: its 2,000 output tokens are
    held at $30/M (60,000 micros), which covers an answer that is all image."""
    call = read_call(
        GEMINI, _generate("gemini-2.5-flash-image", {"maxOutputTokens": 2000}), KEY, TABLE, COUNTER
    )
    assert "output_image_tokens" in call.kinds
    all_image = {
        "promptTokenCount": call.input_tokens,
        "candidatesTokenCount": 2000,
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 2000}],
    }
    assert call.worst_case_micros >= _gemini("gemini-2.5-flash-image", all_image)[1] > 60_000


@pytest.mark.parametrize(
    ("model", "config", "modality"),
    [
        ("gemini-2.5-flash", {"responseModalities": ["TEXT", "IMAGE"]}, "IMAGE"),
        ("gemini-2.5-flash", {"responseModalities": ["AUDIO"]}, "AUDIO"),
        ("gemini-2.5-flash", {"speechConfig": {"voiceConfig": {}}}, "AUDIO"),
        ("gemini-2.5-flash-image", {"responseModalities": ["audio"]}, "AUDIO"),
    ],
)
def test_an_output_modality_without_a_price_is_refused_by_name(
    model: str, config: dict[str, Any], modality: str
) -> None:
    with pytest.raises(InvalidRequest, match=f"asks for {modality} output") as refused:
        read_call(GEMINI, _generate(model, config), KEY, TABLE, COUNTER)
    assert refused.value.param == "generationConfig.responseModalities"
    assert refused.value.extra == {"unpriced_option": "generationConfig.responseModalities"}


def test_a_priced_output_modality_passes() -> None:
    body = _generate("gemini-2.5-flash-image", {"responseModalities": ["TEXT", "IMAGE"]})
    assert read_call(GEMINI, body, KEY, TABLE, COUNTER).price.name == "gemini-2.5-flash-image"


# ---------------------------------------------------------------- xAI's reasoning

XAI_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 500,
    "total_tokens": 5000,
    "completion_tokens_details": {"reasoning_tokens": 2500},
}


def test_xai_reasoning_is_billed_on_top_of_the_completion() -> None:
    """grok-4-0709, 2,000 in / 500 completion / 2,500 reasoning: 51,000 micros, as the
    catalogue's x-ai extractor reads it (13,500 if the reasoning were inside)."""
    price = served("xai/grok-4-0709")
    assert price.reasoning_apart
    answer = {"model": "grok-4-0709", "usage": XAI_USAGE}
    read = XAI_CHAT.read_usage(answer)
    assert read is not None and (read.output_tokens, read.reasoning_tokens) == (3000, 2500)
    assert price.cost_micros(read, at_ms()) == oracle_micros("x-ai", "chat", "grok-4-0709", answer)
    assert price.cost_micros(read, at_ms()) == 51_000


def test_an_xai_call_is_read_by_xais_convention_streamed_or_not() -> None:
    body = {"model": "xai/grok-4-0709", "messages": [{"role": "user", "content": "hi"}]}
    call = read_call(CHAT, {**body, "max_tokens": 4000}, KEY, TABLE, COUNTER)
    assert call.endpoint is XAI_CHAT
    tally = call.endpoint.new_tally(True)
    assert isinstance(tally, OpenAIStreamTally)
    data = orjson.dumps({"choices": [], "usage": XAI_USAGE})
    tally.feed(SSEEvent(b"data: " + data + b"\n\n", None, data.decode()))
    assert tally.reported() == XAI_CHAT.read_usage({"usage": XAI_USAGE})
    openai = read_call(CHAT, {**body, "model": "gpt-4o-mini"}, KEY, TABLE, COUNTER)
    assert openai.endpoint is CHAT


def test_openai_reasoning_stays_inside_the_completion() -> None:
    """OpenAI counts reasoning inside completion_tokens: a larger figure is capped there."""
    read = usage_from_openai(XAI_USAGE)
    assert read is not None and (read.output_tokens, read.reasoning_tokens) == (500, 500)
    answer = {"model": "o4-mini", "usage": {**XAI_USAGE, "completion_tokens": 3000}}
    inside = CHAT.read_usage(answer)
    assert inside is not None
    theirs = oracle_micros("openai", "chat", "o4-mini", answer)
    assert served("o4-mini").cost_micros(inside, at_ms()) == theirs


# ---------------------------------------------------------------- Anthropic's 1-hour writes


def test_a_cached_claude_call_is_held_for_the_hours_writes_it_did_not_declare() -> None:
    """The request asks for a 5-minute cache; the provider writes (and bills) an hour's.
    The hold assumes the 1-hour write rate for the whole prompt, so it covers that bill."""
    block = {"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}
    body = {"system": [block], "messages": [{"role": "user", "content": "hi"}]}
    price = served("claude-sonnet-4-6")
    kinds = billed_kinds(body, price)
    assert kinds == ("cache_write_1h_tokens",)
    answer = {
        "model": "claude-sonnet-4-6",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 9_890,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 9_890},
            "cache_read_input_tokens": 0,
            "output_tokens": 1_000,
        },
    }
    usage = usage_from_anthropic(answer["usage"])  # type: ignore[arg-type]
    assert usage is not None
    cost = price.cost_micros(usage, at_ms())
    assert cost == oracle_micros("anthropic", "default", "claude-sonnet-4-6", answer) == 74_370
    assert price.worst_case_micros(9_900, 1_000, kinds=kinds) >= cost
    assert price.worst_case_micros(9_900, 1_000) < cost  # the 5-minute worst case would not


# ---------------------------------------------------------------- recordings


def _wav(seconds: int, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(b"\x80" * rate * seconds)
    return out.getvalue()


def _forged(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(4, "little") + data[at + 4 :]


BYTE_RATE_AT, DATA_SIZE_AT = 28, 40  # in the 44-byte header `wave` writes


def test_a_wav_plays_its_frames_over_its_sample_rate() -> None:
    data = _wav(600)
    assert wav_seconds(data[:4096], len(data)) == 600
    streamed = _forged(data, DATA_SIZE_AT, 0xFFFFFFFF)  # a streaming writer's placeholder
    assert wav_seconds(streamed[:4096], len(streamed)) == 600


def test_a_forged_byte_rate_is_refused_not_believed() -> None:
    """600 s at 8,000 bytes a second; a header claiming 4,800,000 would bill one second."""
    forged = _forged(_wav(600), BYTE_RATE_AT, 4_800_000)
    with pytest.raises(InconsistentRecording, match="byte_rate is 4800000, but sample_rate"):
        wav_seconds(forged[:4096], len(forged))


def test_a_data_chunk_larger_than_the_file_is_refused() -> None:
    data = _wav(3)
    forged = _forged(data, DATA_SIZE_AT, 10**9)
    with pytest.raises(InconsistentRecording, match="declares 1000000000 bytes"):
        wav_seconds(forged[:4096], len(forged))


def test_a_frame_size_that_contradicts_the_sample_width_is_refused() -> None:
    data = _wav(3)
    forged = data[:32] + (4).to_bytes(2, "little") + data[34:]  # block_align 4 for 8-bit mono
    with pytest.raises(InconsistentRecording, match="block_align is 4"):
        wav_seconds(forged[:4096], len(forged))


def _whisper(seconds: Fraction) -> dict[str, Any]:
    return {"model": "whisper-1", "file": {"filename": "a.wav", "bytes": 1, "seconds": seconds}}


def test_a_per_second_debit_records_the_seconds_it_charges() -> None:
    """The provider reports 62 s for a recording measured at 3 s: 5 s (the 3 measured and
    the 2 s margin) were reserved, and 5 s are both charged and recorded."""
    price = served("whisper-1")
    body = _whisper(Fraction(3))
    held = read_transcription(body, price, COUNTER).fees_micros
    answer = {"text": "x", "usage": {"type": "duration", "seconds": 62}}
    usage = transcription_usage(price, body, answer, 0)
    assert usage.extra == (("audio_seconds", 5),)
    assert price.cost_micros(usage) == held
    honest = transcription_usage(price, body, {"usage": {"type": "duration", "seconds": 4}}, 0)
    assert honest == Usage(extra=(("audio_seconds", 4),))
