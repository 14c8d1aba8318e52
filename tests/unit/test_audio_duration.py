"""Recording durations read from their own bytes, pure: WAV headers (extra chunks before
`data`), MP3 frames fed in chunks split anywhere, an ID3 tag skipped, and the rounding
OpenAI bills per-minute audio with."""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import lameenc
import pytest

from billing.metering.audio import usage_from_transcription
from billing.metering.audio_duration import (
    InconsistentRecording,
    Mp3Frames,
    billed_seconds,
    wav_seconds,
)


def _wav(frames: int, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00" * 4 * frames)
    return out.getvalue()


def _mp3(seconds: int) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(128)
    encoder.set_in_sample_rate(44_100)
    encoder.set_channels(1)
    return bytes(encoder.encode(b"\x00\x00" * 44_100 * seconds) + encoder.flush())


def _fed(data: bytes, step: int) -> Mp3Frames:
    frames = Mp3Frames()
    for start in range(0, len(data), step):
        frames.feed(data[start : start + step])
    return frames


def test_a_wav_plays_its_data_over_its_byte_rate() -> None:
    data = _wav(8000 * 3 + 4000)
    assert wav_seconds(data[:4096], len(data)) == Fraction(7, 2)
    riff, rest = data[:12], data[12:]
    listed = riff + b"LIST" + (6).to_bytes(4, "little") + b"INFOab" + rest
    assert wav_seconds(listed[:4096], len(listed)) == Fraction(7, 2)
    assert wav_seconds(b"OggS" + bytes(100), 104) is None


def test_mp3_frames_are_counted_however_the_file_is_split() -> None:
    data = _mp3(5)
    whole = _fed(data, len(data))
    assert abs(whole.seconds - 5) < Fraction(1, 5)
    for step in (1, 3, 417, 4096):
        assert _fed(data, step).seconds == whole.seconds
    tagged = b"ID3\x04\x00\x00\x00\x00\x01\x00" + b"\xff\xfb" * 64 + data  # 128-byte tag
    assert _fed(tagged, 7).seconds == whole.seconds


def test_seconds_round_to_the_nearest_and_a_call_bills_at_least_one() -> None:
    assert [billed_seconds(Fraction(s)) for s in ("7.4", "7.5", "0.2", "61")] == [7, 8, 1, 61]


def test_transcription_usage_is_seconds_or_tokens() -> None:
    seconds = usage_from_transcription({"type": "duration", "seconds": 12.5})
    assert seconds is not None and seconds.extra == (("audio_seconds", 13),)
    tokens = usage_from_transcription(
        {
            "type": "tokens",
            "input_tokens": 120,
            "input_token_details": {"audio_tokens": 100, "text_tokens": 20},
            "output_tokens": 9,
        }
    )
    assert tokens is not None and tokens.extra == (("input_audio_tokens", 100),)
    assert (tokens.input_tokens, tokens.output_tokens) == (120, 9)
    assert usage_from_transcription({"type": "duration", "seconds": "x"}) is None


KS_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")


def extensible_wav(
    subformat: int, seconds: int, rate: int = 8000, suffix: bytes = b"", fmt_bytes: int = 40
) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file of 16-bit mono frames whose SubFormat GUID names
    `subformat` (1 PCM, 3 float, 0x55 MP3): a 40-byte 'fmt ' chunk, as mmreg.h lays it out."""
    guid = subformat.to_bytes(2, "little") + (suffix or KS_SUFFIX)
    fmt = (
        (0xFFFE).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + rate.to_bytes(4, "little")
        + (rate * 2).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + (22).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + (4).to_bytes(4, "little")
        + guid
    )
    fmt = fmt[:fmt_bytes]
    data = b"\x00\x00" * rate * seconds
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + len(data).to_bytes(4, "little") + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def test_an_extensible_wav_is_measured_by_what_its_subformat_names() -> None:
    pcm = extensible_wav(1, 7)
    assert wav_seconds(pcm[:4096], len(pcm)) == 7
    floats = extensible_wav(3, 2)
    assert wav_seconds(floats[:4096], len(floats)) == 2


def test_an_extensible_wav_carrying_mp3_is_refused_not_measured_as_pcm() -> None:
    """64 s of MP3 in an extensible WAV read as PCM would bill its bytes' length at 16-bit
    PCM's rate (a few seconds): its SubFormat is read, and a compressed one is refused."""
    mp3 = extensible_wav(0x55, 3)
    with pytest.raises(InconsistentRecording, match="WAVE format 0x55"):
        wav_seconds(mp3[:4096], len(mp3))


def test_an_extensible_wav_whose_guid_is_not_a_wave_subformat_is_refused() -> None:
    odd = extensible_wav(1, 3, suffix=bytes(14))
    with pytest.raises(InconsistentRecording, match="SubFormat GUID"):
        wav_seconds(odd[:4096], len(odd))
    cut = extensible_wav(1, 3, fmt_bytes=18)  # the extension's size field, and nothing of it
    with pytest.raises(InconsistentRecording, match="extensible 'fmt ' chunk is shorter"):
        wav_seconds(cut[:4096], len(cut))
