"""Recording durations read from their own bytes, pure: WAV headers (extra chunks before
`data`), MP3 frames fed in chunks split anywhere, an ID3 tag skipped, and the rounding
OpenAI bills per-minute audio with."""

from __future__ import annotations

import io
import wave
from fractions import Fraction

import lameenc

from billing.audio import usage_from_transcription
from billing.audio_duration import Mp3Frames, billed_seconds, wav_seconds


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
