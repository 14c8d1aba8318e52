"""Reading a multipart/form-data request part by part, within MAX_UPLOAD_BYTES.

File parts go to a temporary file chunk by chunk as they arrive, so memory stays flat
whatever the upload's size; text fields are read whole up to MAX_FIELD_BYTES. Fields may
come in any order (OpenAI's own curl examples send the file first), which is why the body
is read to its end before anything is priced or forwarded.

A body over the limit is refused with 413 naming the part being read when it crossed it
(`body` when its Content-Length says so up front); a body that is not multipart, a part with
no name, a field that is not UTF-8, a field given twice or a body cut before its closing
boundary get a 400 naming the problem. Nothing has been reserved then: it costs nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import IO, Any

from aiohttp import BodyPartReader, MultipartReader, web

from gateway.errors import InvalidRequest, PayloadTooLarge, RequestTimeout
from gateway.http.whole import parse_whole
from gateway.llm.reading.uploads import FilePart, Upload, measured_seconds

MAX_FIELD_BYTES = 256 * 1024  # a prompt of 32,000 characters is at most 128 KB of UTF-8
INT_FIELDS = frozenset({"n", "partial_images"})
BOOL_FIELDS = frozenset({"stream"})


def _too_large(limit: int, where: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than this gateway accepts ({limit} bytes, MAX_UPLOAD_BYTES).",
        param=where,
    )


def _malformed(problem: str, param: str = "body") -> InvalidRequest:
    return InvalidRequest(f"The multipart body is malformed: {problem}.", param=param)


class _Reading:
    """One upload being read: the bytes left under the limit, the spool, the parts so far."""

    def __init__(self, limit: int, spool: IO[bytes]) -> None:
        self.limit = limit
        self.left = limit
        self.spool = spool
        self.fields: list[tuple[str, str]] = []
        self.files: list[FilePart] = []

    def take(self, chunk: bytes, name: str) -> None:
        self.left -= len(chunk)
        if self.left < 0:
            raise _too_large(self.limit, name)

    async def field(self, part: BodyPartReader, name: str) -> None:
        raw = bytearray()
        while chunk := await part.read_chunk():
            self.take(chunk, name)
            raw += chunk
            if len(raw) > MAX_FIELD_BYTES:
                raise InvalidRequest(
                    f"'{name}' is longer than {MAX_FIELD_BYTES} bytes.", param=name
                )
        try:
            value = raw.decode()
        except UnicodeDecodeError as exc:
            raise _malformed(f"the field '{name}' is not UTF-8", name) from exc
        if not name.endswith("[]") and any(n == name for n, _ in self.fields):
            raise InvalidRequest(f"'{name}' is given twice.", param=name)
        self.fields.append((name, value))

    async def file(self, part: BodyPartReader, name: str, filename: str) -> None:
        offset = self.spool.tell()
        while chunk := await part.read_chunk():
            self.take(chunk, name)
            self.spool.write(chunk)
        kind = part.headers.get("Content-Type", "application/octet-stream")
        self.files.append(FilePart(name, filename, kind, offset, self.spool.tell() - offset))


async def _parts(reader: MultipartReader, reading: _Reading) -> None:
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError) as exc:
            raise _malformed(str(exc) or "a part could not be read") from exc
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise _malformed("a part is itself multipart")
        name = part.name
        if not name:
            raise _malformed("a part has no name")
        if part.filename is None:
            await reading.field(part, name)
        else:
            await reading.file(part, name, part.filename)


async def read_upload(request: web.Request, limit: int, timeout_s: float) -> Upload:
    """The request's fields and spooled files; the caller closes the Upload."""
    boundary = "boundary=" in request.headers.get("content-type", "")
    if request.content_type != "multipart/form-data" or not boundary:
        raise InvalidRequest(
            "This endpoint takes a multipart/form-data body with a boundary.", param="content-type"
        )
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, "body")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the Upload owns and closes it
    reading = _Reading(limit, spool)
    try:
        async with asyncio.timeout(timeout_s):
            await _parts(MultipartReader(request.headers, request.content), reading)
    except TimeoutError as exc:
        spool.close()
        raise RequestTimeout("The upload did not arrive in time.") from exc
    except BaseException:
        spool.close()
        raise
    return Upload(reading.fields, reading.files, spool)


def form_body(upload: Upload, measure: bool = False) -> dict[str, Any]:
    """The fields as a request body for the endpoint's reader: counts as integers, `stream`
    as a boolean (a value that is neither is refused by name), each file as its name, size
    and content type (several under a name ending in [] are a list), and with `measure`
    how many seconds a recording plays (None: not a format Meterway measures). Blocking
    when it measures: run it in a worker thread."""
    body: dict[str, Any] = {}
    for name, value in upload.fields:
        body[name] = _typed(name, value)
    for part in upload.files:
        info: dict[str, Any] = {
            "filename": part.filename,
            "bytes": part.size,
            "content_type": part.content_type,
        }
        if measure:
            info["seconds"] = measured_seconds(upload, part)
        if part.name.endswith("[]"):
            body.setdefault(part.name, []).append(info)
        elif part.name in body:
            raise InvalidRequest(f"'{part.name}' is given twice.", param=part.name)
        else:
            body[part.name] = info
    return body


def _typed(name: str, value: str) -> object:
    if name in INT_FIELDS:
        return parse_whole(value, name)
    if name in BOOL_FIELDS:
        if value not in ("true", "false"):
            raise InvalidRequest(f"'{name}' must be true or false.", param=name)
        return value == "true"
    return value
