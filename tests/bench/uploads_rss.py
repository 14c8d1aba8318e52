"""`python -m tests.bench.uploads_rss [--uploads 20] [--mb 25]`: the gateway's memory while
concurrent multipart uploads pass through it (issue 34). Outside the default test run.

One `meterway serve` process (WORKERS=1, pinned to CPU 0) in front of a local provider that
reads each upload to its end and throws it away; RSS of the gateway read from /proc every
0.1 s. The clients send `--uploads` whisper-1 transcriptions at once, each a WAV file of
`--mb` MB generated as it is sent (nothing is held whole on either side of the gateway),
without a Content-Length, so the gateway counts the bytes as they come. Printed: RSS before,
the peak while the uploads pass, RSS after, and the debits (one per upload, each for the
seconds the gateway measured from the WAV header).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import uvloop
from aiohttp import web

from gateway.config.settings import load_settings
from tests.bench import fixtures
from tests.bench.procs import free_port, spawn, stop
from tests.bench.rss import Sampler
from tests.bench.targets import GATEWAY_CPU, gateway_env, wait_http
from tests.support.harness import listening_socket, port_of, serving

DATABASE, PREFIX = "meterway_bench_uploads", "mwbenchup"
BOUNDARY = "bench-upload-boundary"
CHUNK = 64 * 1024
RATE = 16_000  # 16 kHz mono 16-bit: 32,000 bytes a second


def wav_header(data_bytes: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)
    riff = 4 + 8 + len(fmt) + 8 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


async def upload_body(size: int) -> AsyncIterator[bytes]:
    """A multipart transcription of a WAV file of `size` bytes, made as it is sent."""
    yield (
        f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n'
        "content-type: audio/wav\r\n\r\n"
    ).encode()
    header = wav_header(size - 44)
    yield header
    zeros = bytes(CHUNK)
    left = size - len(header)
    while left > 0:
        yield zeros[: min(CHUNK, left)]
        left -= CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def _sink(request: web.Request) -> web.Response:
    """The provider: reads the whole upload, keeps none of it, reports no usage."""
    received = 0
    while chunk := await request.content.readany():
        received += len(chunk)
    return web.json_response({"text": f"{received} bytes heard"})


@contextlib.asynccontextmanager
async def sink(sock: socket.socket) -> AsyncIterator[None]:
    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", _sink)
    async with serving(app, sock):
        yield


async def one(http: aiohttp.ClientSession, url: str, key: str, size: int) -> tuple[int, str]:
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    async with http.post(
        url + "/v1/audio/transcriptions", data=upload_body(size), headers=headers
    ) as r:
        return r.status, r.headers.get("x-meterway-cost-micros", "")


async def measure(uploads: int, mb: int, work: Path) -> None:
    config = fixtures.bench_config(work / "config")
    upstream, port = listening_socket(), free_port()
    env = gateway_env(f"http://127.0.0.1:{port_of(upstream)}", port, config, 1)
    env |= {"DATABASE_URL": fixtures.dsn_of(DATABASE), "REDIS_PREFIX": PREFIX}
    await fixtures.drop_prefix(PREFIX)
    await fixtures.fresh_database(DATABASE)
    key = (await fixtures.populate(load_settings(env), 1, 1)).secrets[0]
    argv = [str(Path(sys.executable).with_name("meterway")), "serve"]
    proc = spawn(argv, cpu=GATEWAY_CPU, log=work / "meterway-uploads.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with sink(upstream):
            await asyncio.to_thread(wait_http, url + "/readyz")
            await _run(proc.pid, url, key, uploads, mb * 1_000_000)
    finally:
        stop(proc)
        await fixtures.drop_prefix(PREFIX)
        await fixtures.drop_database(DATABASE)


async def _run(pid: int, url: str, key: str, uploads: int, size: int) -> None:
    s = Sampler(pid)
    sampling = asyncio.create_task(s.run())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        await one(http, url, key, 1_000_000)  # warm: encodings, pools, the first spool
        await asyncio.sleep(1.0)
        before = s.now()
        s.reset()
        started = time.monotonic()
        answers = await asyncio.gather(*[one(http, url, key, size) for _ in range(uploads)])
        took = time.monotonic() - started
        peak = s.peak
        await asyncio.sleep(1.0)
        after = s.now()
    sampling.cancel()
    seconds = (size - 44) // (RATE * 2)
    print(f"{uploads} concurrent uploads of {size / 1e6:.0f} MB in {took:.1f} s")
    print(f"answers: {sorted(set(answers))} (each {seconds} s of audio at $0.006/min)")
    print(f"gateway RSS before {before:.1f} MiB, peak {peak:.1f} MiB, after {after:.1f} MiB")
    print(f"peak - before: {peak - before:.1f} MiB for {uploads * size / 2**20:.0f} MiB uploaded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--mb", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        uvloop.run(measure(args.uploads, args.mb, Path(work)))


if __name__ == "__main__":
    main()
