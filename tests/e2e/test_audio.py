"""Audio through the gateway with the official SDK, each debit worked out here by hand from
OpenAI's published prices: whisper-1 $0.006 a minute (100 micros a second, rounded to the
nearest second), gpt-4o-transcribe $6 per 1M audio input and $10 per 1M output tokens,
gpt-4o-mini-transcribe $3 and $5, tts-1 $15 per 1M characters, gpt-4o-mini-tts $0.60 per 1M
input and $12 per 1M output tokens."""

from __future__ import annotations

import io
import math
import wave
from fractions import Fraction
from pathlib import Path

import lameenc
import openai
import pytest

from gateway.devtools.demo_upstream.routes.audio import AUDIO_CHUNK
from tests.support.factories import balance, debits, eventual_debits, held, openai_client, tenant
from tests.support.harness import ADMIN_KEY, COUNTER, Gateway
from tests.unit.test_audio_duration import extensible_wav

CREDIT = 10_000_000
TRANSCRIPT = "the quick brown fox jumps over the lazy dog"
SPOKEN = "Meterway bills every character of this sentence."


def wav(seconds: float, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def mp3(seconds: float) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(16_000)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(b"\x00\x00" * int(seconds * 16_000)) + encoder.flush())


async def test_whisper_is_billed_for_the_seconds_the_provider_reports(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        answer = await client.audio.transcriptions.create(
            model="whisper-1", file=("call.wav", wav(7.4), "audio/wav")
        )
    assert answer.text == TRANSCRIPT
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [7 * 100]  # 7.4 s is 7 s
    assert gw.control.last_request.body["file"]["bytes"] == len(wav(7.4))


async def test_whisper_is_billed_for_the_mp3_duration_meterway_measures(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    gw.control.omit_usage = True  # the provider says nothing of the duration
    audio = mp3(12.6)  # lame pads it to ~12.7 s of frames: 13 s, nearest second
    async with openai_client(gw, t.key) as client:
        text = await client.audio.transcriptions.create(
            model="whisper-1", file=("call.mp3", audio, "audio/mpeg"), response_format="text"
        )
    assert text.strip() == TRANSCRIPT
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [13 * 100]
    assert gw.control.last_request.body["file"]["data"] == audio


async def test_a_translation_is_billed_like_a_transcription(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.warns(DeprecationWarning):  # the SDK marks translations deprecated
            await client.audio.translations.create(
                model="whisper-1", file=("call.wav", wav(61.5), "audio/wav")
            )
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [62 * 100]
    assert gw.control.last_request.path == "/v1/audio/translations"


async def test_a_format_meterway_cannot_measure_is_refused_for_a_per_minute_model(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("call.m4a", b"\x00\x00\x00\x20ftypM4A " * 50, "audio/mp4")
            )
    assert caught.value.param == "file" and "WAV or MP3" in caught.value.message
    assert gw.control.requests == []
    assert await balance(gw, t.account_id) == CREDIT


async def test_gpt_4o_transcribe_is_billed_from_its_token_usage(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    audio = wav(3)
    async with openai_client(gw, t.key) as client:
        await client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=("a.wav", audio, "audio/wav")
        )
    audio_tokens = len(audio) // 100  # what the demo provider reports
    output = COUNTER.count_text("o200k_base", TRANSCRIPT)
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [audio_tokens * 6 + output * 10]


async def test_a_streamed_transcription_is_relayed_and_billed(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    audio = wav(2)
    async with openai_client(gw, t.key) as client:
        stream = await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("a.wav", audio, "audio/wav"), stream=True
        )
        events = [event async for event in stream]
    assert events[-1].type == "transcript.text.done"
    expected = len(audio) // 100 * 3 + COUNTER.count_text("o200k_base", TRANSCRIPT) * 5
    assert events[-1].model_dump()["usage"]["cost_micros"] == expected
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [expected]


async def test_speech_streams_to_a_file_and_is_billed_per_character(
    gw: Gateway, tmp_path: Path
) -> None:
    t = await tenant(gw, credit=CREDIT)
    target = tmp_path / "speech.mp3"
    client = openai_client(gw, t.key)
    async with (
        client,
        client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=SPOKEN
        ) as response,
    ):
        assert response.headers["x-meterway-cost-micros"] == str(len(SPOKEN) * 15)
        await response.stream_to_file(target)
    assert target.stat().st_size == 3 * 8 * 417  # the demo's audio, as it came
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [len(SPOKEN) * 15]


async def test_a_client_that_leaves_a_speech_stream_is_billed_for_the_call(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    gw.control.chunks, gw.control.chunk_delay_s = 20, 0.1
    headers = {"authorization": f"Bearer {t.key}"}
    body = {"model": "tts-1", "voice": "alloy", "input": SPOKEN}
    async with gw.http.post(gw.url + "/v1/audio/speech", json=body, headers=headers) as r:
        assert r.status == 200
        await r.content.readany()  # the first audio, then the client hangs up
        r.close()
    rows = await eventual_debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [len(SPOKEN) * 15]
    assert await held(gw, t.account_id) == 0


async def test_token_priced_speech_is_billed_from_its_events_and_answered_as_asked(
    gw: Gateway,
) -> None:
    """As OpenAI documents it (no stream_format) the client gets the audio bytes, which the
    gateway assembles from the server-sent events it asks the provider for, where the usage
    is; with stream_format sse it gets the events. Both billed exactly, the same."""
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        audio = await client.audio.speech.create(
            model="gpt-4o-mini-tts", voice="alloy", input=SPOKEN
        )
        events = await client.audio.speech.create(
            model="gpt-4o-mini-tts", voice="alloy", input=SPOKEN, stream_format="sse"
        )
    assert audio.content == AUDIO_CHUNK * 3  # the demo's three deltas, decoded and joined
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert gw.control.requests[0].body["stream_format"] == "sse"
    assert b"speech.audio.done" in events.content
    tokens_in = COUNTER.count_text("o200k_base", SPOKEN)
    tokens_out = 10 * len(SPOKEN.split())  # what the demo reports
    # $0.60 per 1M input tokens is 0.6 micros a token: the sum is rounded up once.
    expected = math.ceil(Fraction(6, 10) * tokens_in + 12 * tokens_out)
    assert audio.response.headers["x-meterway-cost-micros"] == str(expected)
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [expected] * 2
    assert await held(gw, t.account_id) == 0


async def test_speech_assembled_from_a_stream_cut_short_is_a_502_billed_nothing(
    gw: Gateway,
) -> None:
    """The client got no audio: as with a JSON answer cut off, nothing is billed."""
    t = await tenant(gw, credit=CREDIT)
    gw.control.fail_after_chunks = 1
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=SPOKEN)
    assert caught.value.status_code == 502
    assert await debits(gw, t.account_id) == []
    assert await held(gw, t.account_id) == 0


async def test_a_key_without_the_audio_scope_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.PermissionDeniedError, match="'audio' scope"):
            await client.audio.speech.create(model="tts-1", voice="alloy", input=SPOKEN)
    assert gw.control.requests == []


async def test_usage_reports_show_seconds_and_characters(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("call.wav", wav(7.4), "audio/wav")
        )
        await client.audio.speech.create(model="tts-1", voice="alloy", input=SPOKEN)
    await gw.settle_all()
    path = f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=model"
    status, report = await gw.admin("GET", path)
    assert status == 200, report
    units = {r["model"]: (r["audio_seconds"], r["characters"]) for r in report["data"]}
    assert units == {"whisper-1": (7, 0), "tts-1": (0, len(SPOKEN))}
    async with gw.http.get(
        gw.url + path + "&format=csv", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        header = (await r.text()).splitlines()[0].split(",")
    assert {"images", "audio_seconds", "characters"} <= set(header)


async def test_a_token_model_asked_for_plain_text_is_refused_by_name(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.transcriptions.create(
                model="gpt-4o-transcribe",
                file=("a.wav", wav(1), "audio/wav"),
                response_format="text",
            )
    assert caught.value.param == "response_format"  # its usage would be lost: not guessed
    assert gw.control.requests == []


def forged_wav(seconds: int, byte_rate: int) -> bytes:
    """An honest recording whose header claims another byte rate (decoders play its frames
    at its sample rate, so it still plays `seconds`)."""
    data = wav(seconds, rate=8_000)
    return data[:28] + byte_rate.to_bytes(4, "little") + data[32:]


async def test_a_wav_whose_byte_rate_is_forged_is_refused(gw: Gateway) -> None:
    """600 s of 16-bit 8 kHz audio (16,000 bytes a second) claiming 9,600,000 bytes a
    second would be measured at one second (100 micros, not 60,000): it is a 400 naming
    the file and the disagreement, nothing is sent and nothing billed."""
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("call.wav", forged_wav(600, 9_600_000), "audio/wav")
            )
    assert caught.value.param == "file" and "byte_rate is 9600000" in caught.value.message
    assert gw.control.requests == []
    assert await debits(gw, t.account_id) == []
    assert await balance(gw, t.account_id) == CREDIT


async def test_an_extensible_wav_carrying_mp3_is_refused_by_name(gw: Gateway) -> None:
    """An MP3 payload in a WAVE_FORMAT_EXTENSIBLE file was measured as 16-bit PCM (a few
    seconds, where the provider reports 64): its SubFormat is read and it is refused."""
    t = await tenant(gw, credit=CREDIT)
    mp3_inside = extensible_wav(0x55, 3)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("call.wav", mp3_inside, "audio/wav")
            )
    assert caught.value.param == "file" and "WAVE format 0x55" in caught.value.message
    assert gw.control.requests == []
    assert await debits(gw, t.account_id) == []


async def test_whisper_debit_records_the_seconds_it_charges(gw: Gateway) -> None:
    """The provider reports 62 s for a 3 s recording: 5 s (3 measured, 2 of margin) were
    reserved, and the debit both charges and records 5 s."""
    t = await tenant(gw, credit=CREDIT)
    gw.control.usage = {"type": "duration", "seconds": 62}
    async with openai_client(gw, t.key) as client:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("call.wav", wav(3), "audio/wav")
        )
    [row] = await debits(gw, t.account_id)
    assert -row["amount_micros"] == 5 * 100
    assert (row["usage_detail"] or {}).get("audio_seconds") == 5
