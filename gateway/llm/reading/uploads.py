"""A multipart upload as the gateway keeps it, and the body the provider is sent.

Text fields are small and held in memory; file parts are spooled to one anonymous temporary
file as they arrive (never the whole body in memory), each remembered by its offset. What
the provider gets is re-encoded from what was priced, under Meterway's own boundary, the
model renamed to its upstream id, with an exact Content-Length, read from the spool in
64 KiB chunks as the connection takes them.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import IO

from billing.metering.audio_duration import InconsistentRecording, Mp3Frames, wav_seconds
from gateway.errors import InvalidRequest

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    offset: int  # where its bytes start in the spool
    size: int


@dataclass(frozen=True, slots=True)
class Encoded:
    """A body to send: its content type, exact length and chunks."""

    content_type: str
    size: int
    chunks: AsyncIterator[bytes]


def _quoted(value: str) -> str:
    """A name or filename inside a quoted header parameter, escaped as browsers do."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass(eq=False)
class Upload:
    fields: list[tuple[str, str]]
    files: list[FilePart]
    spool: IO[bytes]
    boundary: str = field(default_factory=lambda: f"meterway-{secrets.token_hex(16)}")

    def read(self, part: FilePart, start: int = 0, size: int = CHUNK) -> bytes:
        """Up to `size` bytes of `part` from `start` (blocking: a read of the page cache)."""
        size = max(min(size, part.size - start), 0)
        self.spool.seek(part.offset + start)
        return self.spool.read(size)

    def close(self) -> None:
        self.spool.close()

    def _field_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\ncontent-disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
        ).encode()

    def _file_head(self, part: FilePart) -> bytes:
        disposition = f'form-data; name="{_quoted(part.name)}"; filename="{_quoted(part.filename)}"'
        return (
            f"--{self.boundary}\r\ncontent-disposition: {disposition}\r\n"
            f"content-type: {part.content_type}\r\n\r\n"
        ).encode()

    def _fields(self, model: str) -> list[bytes]:
        return [
            self._field_head(name) + (model if name == "model" else value).encode() + b"\r\n"
            for name, value in self.fields
        ]

    def encoded(self, model: str) -> Encoded:
        """The body the provider is sent, with `model` as its model field."""
        fields = b"".join(self._fields(model))
        tail = f"--{self.boundary}--\r\n".encode()
        size = len(fields) + len(tail)
        size += sum(len(self._file_head(p)) + p.size + 2 for p in self.files)
        return Encoded(
            f"multipart/form-data; boundary={self.boundary}", size, self._chunks(fields, tail)
        )

    async def _chunks(self, fields: bytes, tail: bytes) -> AsyncIterator[bytes]:
        yield fields
        for part in self.files:
            yield self._file_head(part)
            for start in range(0, part.size, CHUNK):
                yield self.read(part, start)
            yield b"\r\n"
        yield tail


class PartRewrite:
    """A file part's new content (a batch file's lines re-serialized as they are priced),
    appended after everything in the spool; `done` makes the upload send it instead.
    Blocking, as the reads it runs beside: a worker thread's."""

    def __init__(self, upload: Upload, part: FilePart) -> None:
        self.upload, self.part = upload, part
        self.offset = upload.spool.seek(0, io.SEEK_END)
        self.size = 0
        self.held: list[bytes] = []
        self.held_size = 0

    def write(self, data: bytes) -> None:
        self.held.append(data)
        self.held_size += len(data)
        if self.held_size >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        spool = self.upload.spool
        spool.seek(self.offset + self.size)
        spool.write(b"".join(self.held))
        self.size += self.held_size
        self.held, self.held_size = [], 0

    def done(self) -> None:
        self._flush()
        files = self.upload.files
        files[files.index(self.part)] = replace(self.part, offset=self.offset, size=self.size)


MP3_NAMES = (".mp3", ".mpga", ".mpeg")
MP3_TYPES = frozenset({"audio/mpeg", "audio/mp3", "audio/mpga"})


def measured_seconds(upload: Upload, part: FilePart) -> Fraction | None:
    """How long the recording in `part` plays (WAV from its data and sample format, MP3
    from its frames), None for a format Meterway cannot measure; a WAV whose header
    contradicts itself or the file is refused by name. Blocking: run it in a worker thread."""
    head = upload.read(part, 0, CHUNK)
    try:
        wav = wav_seconds(head, part.size)
    except InconsistentRecording as exc:
        raise InvalidRequest(
            f"'{part.filename}' is not a consistent WAV file: {exc}.", param=part.name
        ) from exc
    if wav is not None:
        return wav
    named = part.filename.lower().endswith(MP3_NAMES) or part.content_type in MP3_TYPES
    if not named:
        return None
    frames = Mp3Frames()
    for start in range(0, part.size, CHUNK):
        frames.feed(upload.read(part, start))
    return frames.seconds if frames.frames else None


def part_lines(upload: Upload, part: FilePart) -> Iterator[bytes]:
    """The lines of a file part, read from the spool a chunk at a time (blocking)."""
    rest = b""
    for start in range(0, part.size, CHUNK):
        lines = (rest + upload.read(part, start)).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest
