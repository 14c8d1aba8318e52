"""The Realtime session's money, pure: audio estimates, output caps, `response.done` usage
read and priced at gpt-realtime's catalogue rates, the conversation's size, and the events
that add to it; client secrets minted and read."""

from __future__ import annotations

import base64

import orjson
import pytest

from billing.metering.realtime import (
    Conversation,
    audio_tokens,
    output_cap,
    produced_usage,
    response_usage,
)
from billing.metering.usage import Usage
from billing.pricing.catalogue import compile_catalogue
from gateway.errors import InvalidApiKey
from gateway.llm.reading.realtime_events import SessionShape, client_tokens
from gateway.services.metering import realtime_secrets as secrets

USAGE = {
    "total_tokens": 300,
    "input_tokens": 200,
    "output_tokens": 100,
    "input_token_details": {
        "text_tokens": 50,
        "audio_tokens": 150,
        "cached_tokens": 100,
        "cached_tokens_details": {"text_tokens": 20, "audio_tokens": 80},
    },
    "output_token_details": {"text_tokens": 30, "audio_tokens": 70},
}


def realtime_models() -> dict[str, object]:
    return {
        e.price.name: e.price
        for e in compile_catalogue(["openai"], frozenset())
        if e.price.kind == "realtime"
    }


def test_a_second_of_audio_is_twenty_tokens_at_each_formats_rate() -> None:
    assert audio_tokens(48_000, "audio/pcm") == 20
    assert audio_tokens(8_000, "audio/pcmu") == 20
    assert audio_tokens(1, "audio/pcm") == 1  # rounded up
    assert audio_tokens(8_000, "something/new") == 20  # unknown: the densest known


def test_the_output_cap_is_the_sessions_below_the_models() -> None:
    assert output_cap(500, 4096) == 500
    assert output_cap("inf", 4096) == 4096
    assert output_cap(10**9, 4096) == 4096
    assert output_cap(True, 4096) == 4096
    assert output_cap(None, 0) == 32_768


def test_response_done_usage_is_priced_part_by_part() -> None:
    """$4/$16 text, $32/$64 audio, $0.40 cached (text and audio) per 1M: by hand 7,360."""
    price = realtime_models()["gpt-realtime"]
    usage = response_usage(USAGE)
    assert usage is not None
    assert price.price(usage).provider_micros == 30 * 4 + 70 * 32 + 100 * 0.4 + 30 * 16 + 70 * 64  # type: ignore[attr-defined]


def test_malformed_usage_is_none_so_the_output_is_counted() -> None:
    assert response_usage({"input_tokens": -1}) is None
    assert response_usage("nope") is None
    bad = {**USAGE, "input_token_details": {"cached_tokens_details": {"audio_tokens": "x"}}}
    assert response_usage(bad) is None


def test_only_realtime_models_priced_per_token_are_served() -> None:
    models = realtime_models()
    assert models["gpt-realtime"].is_priced()  # type: ignore[attr-defined]
    assert "gpt-realtime-whisper" not in models  # per audio hour: the relay meters tokens
    assert "gpt-realtime-translate" not in models


def test_the_conversation_is_exact_after_each_response_and_estimated_since() -> None:
    conv = Conversation()
    conv.add(100)
    added_at_hold = conv.added
    conv.add(40)  # appended while the response was made
    conv.answered(produced_usage(80, 10, 5), added_at_hold)
    assert conv.input_tokens == 80 + 15 + 40


def test_client_events_add_audio_at_its_rate_and_text_a_token_per_byte() -> None:
    shape = SessionShape()
    audio = base64.b64encode(b"\x01" * 48_000).decode()
    append = {"type": "input_audio_buffer.append", "audio": audio}
    assert client_tokens(append, len(orjson.dumps(append)), shape) == 20
    item = {
        "type": "conversation.item.create",
        "item": {
            "content": [
                {"type": "input_audio", "audio": audio},
                {"type": "input_text", "text": "hi"},
            ]
        },
    }
    raw = len(orjson.dumps(item))
    assert client_tokens(item, raw, shape) == 20 + raw - len(audio)
    shape.update({"audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None}}})
    assert client_tokens(append, 0, shape) == 120 and not shape.vad_responds


def test_a_client_secret_reads_back_and_refuses_tampering_and_expiry() -> None:
    minted = secrets.mint(secrets.ClientSecret("d" * 64, "gpt-realtime", 2_000), "admin-key-123456")
    assert secrets.read(minted, "admin-key-123456", 1_000).model == "gpt-realtime"
    with pytest.raises(InvalidApiKey):
        secrets.read(minted, "another-admin-key", 1_000)
    with pytest.raises(InvalidApiKey, match="expired"):
        secrets.read(minted, "admin-key-123456", 2_000)
    head, _, mac = minted.rpartition(".")
    with pytest.raises(InvalidApiKey):
        secrets.read(head + "x." + mac, "admin-key-123456", 1_000)
    assert secrets.offered(f"realtime, openai-insecure-api-key.{minted}") == (minted, ["realtime"])


def test_a_realtime_response_is_held_for_openais_4096_output_tokens() -> None:
    """Each response was held for 32,768 output tokens where OpenAI caps a Realtime
    response at 4,096: eight times the money held (about $2.10 at the audio rate)."""
    models = realtime_models()
    for name in ("gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview"):
        assert models[name].max_output_tokens == 4096  # type: ignore[attr-defined]


def test_an_answer_never_shrinks_the_conversation() -> None:
    """An out-of-band response's own ~15 tokens reset the conversation's known size, so the
    next in-band response was held as if the conversation were empty."""
    conversation = Conversation()
    conversation.answered(response_usage(USAGE) or Usage(), 0)  # 300 tokens
    conversation.answered(Usage(input_tokens=10, output_tokens=5), 0)
    assert conversation.input_tokens == 300
