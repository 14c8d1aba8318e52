"""Raw-socket HTTP clients: bytes no well-behaved library would send."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return str(parts.hostname), int(parts.port or 80)


async def send_raw(url: str, data: bytes, timeout_s: float = 10) -> RawAnswer:
    """Write `data` as is, read until the server closes, and parse the first answer."""
    host, port = _address(url)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            raw = await reader.read(-1)
    finally:
        writer.close()
    return parse_answer(raw)


async def read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    """One answer with a Content-Length, without waiting for the server to close."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = parse_answer(head).headers.get("content-length", "0")
    return parse_answer(head + await reader.readexactly(int(length)))


def parse_answer(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawAnswer(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def request_bytes(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gw", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "surrogateescape") + body


async def open_idle(
    url: str, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """Connections that send nothing and wait."""
    host, port = _address(url)
    return [await asyncio.open_connection(host, port) for _ in range(count)]
