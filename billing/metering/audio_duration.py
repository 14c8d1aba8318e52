"""How long an uploaded recording plays, read from its own bytes: what a per-minute model
(whisper-1) is billed for when the provider does not say.

WAV (PCM, float, A-law, mu-law): the `data` chunk's whole sample frames over the `fmt `
chunk's sample rate, its frame size (`block_align`) checked against its channels and sample
width; the header's own `byte_rate` is never trusted, it must agree (`sample_rate *
block_align`) or the file is refused, as is one whose `data` chunk claims more bytes than
the file holds (0 and 0xFFFFFFFF, a streaming writer's placeholders, mean "to the end").
MP3 (MPEG-1, 2 and 2.5
Layer III): every frame's header walked from the first to the last (after an ID3v2 tag),
summing samples over sample rate, so variable bit rates are measured exactly; bytes between
frames that are no frame are skipped to the next sync word. Anything else cannot be
measured, and the caller refuses it by name rather than guess.

`Mp3Frames` is fed the file in chunks split anywhere (its state is the bytes of a frame not
yet whole), so a 25 MB upload is walked from its spool without holding it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# Bit rates (kbit/s) of Layer III by bitrate index: MPEG-1, then MPEG-2 and 2.5.
_RATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class InconsistentRecording(ValueError):
    """A recording whose header and content disagree: what it plays is not what it says,
    so its duration would be a guess; the message names the disagreement."""


# WAVE format tags whose frames are fixed-size samples: PCM, IEEE float, A-law, mu-law.
_FIXED_FRAME_FORMATS = frozenset({1, 3, 6, 7})
# WAVE_FORMAT_EXTENSIBLE names its encoding in a SubFormat GUID (mmreg.h, ksmedia.h): the
# format tag in its first two bytes, then the fixed KSDATAFORMAT_SUBTYPE suffix.
_EXTENSIBLE = 0xFFFE
_SUBFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")
_STREAMING_SIZES = (0, 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class _Format:
    tag: int
    channels: int
    sample_rate: int
    byte_rate: int
    block_align: int
    bits: int

    @classmethod
    def read(cls, chunk: bytes) -> _Format:
        if len(chunk) < 16:
            raise InconsistentRecording("its 'fmt ' chunk is shorter than 16 bytes")
        tag, channels = _u16(chunk, 0), _u16(chunk, 2)
        if tag == _EXTENSIBLE:
            tag = _subformat(chunk)
        rate, byte_rate = _u32(chunk, 4), _u32(chunk, 8)
        return cls(tag, channels, rate, byte_rate, _u16(chunk, 12), _u16(chunk, 14))

    def check(self) -> None:
        """Refuse a header whose fields contradict one another, naming them."""
        if self.tag not in _FIXED_FRAME_FORMATS:
            raise InconsistentRecording(f"its encoding (WAVE format {self.tag:#x}) is compressed")
        if not (self.channels and self.sample_rate and self.bits):
            raise InconsistentRecording("its 'fmt ' chunk has no channels, rate or sample width")
        frame = self.channels * ((self.bits + 7) // 8)
        if self.block_align != frame:
            raise InconsistentRecording(
                f"block_align is {self.block_align}, but {self.channels} channel(s) of "
                f"{self.bits}-bit samples make {frame}"
            )
        if self.byte_rate != self.sample_rate * self.block_align:
            raise InconsistentRecording(
                f"byte_rate is {self.byte_rate}, but sample_rate x block_align is "
                f"{self.sample_rate * self.block_align}"
            )


def _subformat(chunk: bytes) -> int:
    """The encoding an extensible 'fmt ' chunk carries: its SubFormat GUID's format tag. The
    outer tag says only "extensible", so a file is measured by what its GUID names or refused."""
    if len(chunk) < 40 or _u16(chunk, 16) < 22:
        raise InconsistentRecording(
            "its extensible 'fmt ' chunk is shorter than the 40 bytes that carry its SubFormat"
        )
    if chunk[26:40] != _SUBFORMAT_SUFFIX:
        guid = chunk[24:40].hex()
        raise InconsistentRecording(f"its SubFormat GUID ({guid}) names no WAVE format")
    return _u16(chunk, 24)


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def wav_seconds(head: bytes, size: int) -> Fraction | None:
    """The duration of a WAV file of `size` bytes from its first bytes: its whole frames
    over its sample rate. None if it is no RIFF/WAVE file whose `fmt ` and `data` chunks lie
    in `head`; InconsistentRecording if its header contradicts itself or the file."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at, fmt = 12, None
    while at + 8 <= len(head):
        kind, length = head[at : at + 4], _u32(head, at + 4)
        if kind == b"fmt " and at + 24 <= len(head):
            fmt = _Format.read(head[at + 8 : at + 8 + length])
        elif kind == b"data":
            return None if fmt is None else _data_seconds(fmt, length, size - at - 8)
        at += 8 + length + (length & 1)
    return None


def _data_seconds(fmt: _Format, declared: int, available: int) -> Fraction:
    fmt.check()
    if declared in _STREAMING_SIZES:
        declared = max(available, 0)
    elif declared > available:
        raise InconsistentRecording(
            f"its 'data' chunk declares {declared} bytes, but the file holds {max(available, 0)}"
        )
    return Fraction(declared // fmt.block_align, fmt.sample_rate)


def _frame(header: bytes) -> tuple[int, int, int] | None:
    """(frame bytes, samples, sample rate) of a Layer III frame header, None if it is none."""
    b1, b2 = header[1], header[2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    rate_index, sr_index = b2 >> 4, (b2 >> 2) & 3
    if header[0] != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or layer != 1:
        return None
    if rate_index in (0, 15) or sr_index == 3:
        return None
    sample_rate = _SAMPLE_RATES[version][sr_index]
    kbps = (_RATES_V1 if version == 3 else _RATES_V2)[rate_index]
    samples = 1152 if version == 3 else 576
    length = samples // 8 * kbps * 1000 // sample_rate + ((b2 >> 1) & 1)
    return length, samples, sample_rate


class Mp3Frames:
    """An MP3 stream's duration, fed in chunks."""

    def __init__(self) -> None:
        self._buffer = b""  # a header not yet whole
        self._skip = 0  # bytes of the ID3 tag or of the current frame still to pass
        self._tag_checked = False
        self.seconds = Fraction(0)
        self.frames = 0

    def feed(self, chunk: bytes) -> None:
        data = self._buffer + chunk if self._buffer else chunk
        at = self._pass(data, 0)
        if not self._tag_checked:
            if len(data) - at < 10:
                self._buffer = data[at:]
                return
            self._tag_checked = True
            if data[at : at + 3] == b"ID3":
                tag = (data[at + 6] << 21) | (data[at + 7] << 14) | (data[at + 8] << 7)
                tag |= data[at + 9]
                self._skip = 10 + tag + (10 if data[at + 5] & 0x10 else 0)
                at = self._pass(data, at)
        while at + 4 <= len(data):
            frame = _frame(data[at : at + 4])
            if frame is None:
                at += 1
                continue
            length, samples, sample_rate = frame
            self.seconds += Fraction(samples, sample_rate)
            self.frames += 1
            at += length
        self._skip = max(at - len(data), 0)
        self._buffer = data[at:]

    def _pass(self, data: bytes, at: int) -> int:
        passed = min(self._skip, len(data) - at)
        self._skip -= passed
        return at + passed


def billed_seconds(duration: Fraction) -> int:
    """Whole seconds as OpenAI bills per-minute audio: rounded to the nearest second (half
    up), and at least one for a call that ran."""
    return max(int(duration + Fraction(1, 2)), 1)
