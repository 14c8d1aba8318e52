"""`python -m tests.bench.rss [--idle N] [--streams N]`: the gateway's memory (RSS of the
`meterway serve` process, in-process settler included) under the conditions issue 17 names
and the oversized answers of issue 10 item 15. Outside the default test run.

Phases, one gateway process (WORKERS=1, pinned to CPU 0), RSS read from /proc every 0.1 s:
1. started, then after 500 warm-up calls;
2. 10,000 idle keep-alive connections (each served one GET /healthz, then left open);
3. 1,000 concurrent streams (40 chunks, 1 s apart, from a local provider), then settled;
4. a 200 MB JSON answer and one 300 MB SSE event (both cut by the gateway's caps).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from gateway.config.settings import load_settings
from tests.bench import fixtures, rss_upstream
from tests.bench.procs import free_port, rss_mib, spawn, stop
from tests.bench.targets import GATEWAY_CPU, gateway_env, wait_http

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE, PREFIX = "meterway_bench_rss", "mwbenchrss"  # not the main bench's: both may run
CHAT = "/v1/chat/completions"


@dataclass
class Sampler:
    """RSS of one process, sampled in the background; `peak` since the last `reset`."""

    pid: int
    peak: float = 0.0
    samples: list[float] = field(default_factory=list)

    def now(self) -> float:
        return rss_mib([self.pid])

    def reset(self) -> None:
        self.peak = self.now()

    async def run(self) -> None:
        while True:
            value = self.now()
            self.samples.append(value)
            self.peak = max(self.peak, value)
            await asyncio.sleep(0.1)


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _body(content: str, stream: bool = False) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}],
            "max_tokens": 64, "stream": stream}  # fmt: skip


async def _gather_limited(jobs: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def warm_up(http: aiohttp.ClientSession, url: str, key: str, n: int) -> int:
    headers = {"Authorization": f"Bearer {key}"}

    async def call() -> int:
        async with http.post(url + CHAT, json=_body("hi"), headers=headers) as r:
            await r.read()
            return r.status

    return sum(s == 200 for s in await _gather_limited([call] * n, 20))


async def idle_connections(port: int, n: int) -> list[asyncio.StreamWriter]:
    """n connections, each having been answered once and then left idle (keep-alive)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        assert head.startswith(b"HTTP/1.1 200")
        return writer

    return list(await _gather_limited([one] * n, 500))


async def stream_one(http: aiohttp.ClientSession, url: str, key: str, opened: list[int]) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(url + CHAT, json=_body("s", stream=True), headers=headers) as r:
        opened.append(1)
        async for _ in r.content:
            pass
        return r.status


async def huge(http: aiohttp.ClientSession, url: str, key: str, what: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    stream = what == "huge-sse"
    async with http.post(url + CHAT, json=_body(what, stream), headers=headers) as r:
        text = await r.text()
    if r.status != 200:
        return f"{r.status}: {text[:200]}"
    return f"200, {'ends with an error event' if 'upstream_error' in text else text[:200]}"


@contextlib.asynccontextmanager
async def gateway(upstream: str, config_dir: Path, logs: Path) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    env = gateway_env(upstream, port, config_dir, 1)
    env |= {"DATABASE_URL": fixtures.dsn_of(DATABASE), "REDIS_PREFIX": PREFIX}
    env |= {"MAX_CONNECTIONS": "12000", "CLIENT_IDLE_TIMEOUT_S": "600"}
    argv = [str(Path(sys.executable).with_name("meterway")), "serve"]
    proc = spawn(argv, cpu=GATEWAY_CPU, log=logs / "meterway-rss.log", env=env)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop(proc)


async def measure(args: argparse.Namespace, work: Path) -> list[tuple[str, str, str]]:
    """Each condition on a fresh gateway process, so one phase's freed-but-kept memory does
    not hide the next one's cost."""
    config = fixtures.bench_config(work / "config")
    env = gateway_env("http://127.0.0.1:1", free_port(), config, 1)
    env |= {"DATABASE_URL": fixtures.dsn_of(DATABASE), "REDIS_PREFIX": PREFIX}
    settings = load_settings(env)
    await fixtures.drop_prefix(PREFIX)
    await fixtures.fresh_database(DATABASE)
    key = (await fixtures.populate(settings, 1, 1)).secrets[0]
    up_port = free_port()
    upstream = await rss_upstream.start(up_port)
    rows: list[tuple[str, str, str]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    phases: list[Phase] = [_warm_phase, _idle_phase(args.idle), _stream_phase(args.streams)]
    phases += [_huge_phase("huge-json", "200 MB JSON answer")]
    phases += [_huge_phase("huge-sse", "300 MB SSE event")]
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for phase in phases:
                async with gateway(f"http://127.0.0.1:{up_port}", config, work) as (url, pid):
                    s = Sampler(pid)
                    sampling = asyncio.create_task(s.run())
                    await asyncio.sleep(1.0)
                    s.reset()
                    rows += await phase(s, http, url, key)
                    sampling.cancel()
    finally:
        await upstream.cleanup()
        await fixtures.drop_prefix(PREFIX)
        await fixtures.drop_database(DATABASE)
    return rows


Row = tuple[str, str, str]
Phase = Callable[[Sampler, aiohttp.ClientSession, str, str], Awaitable[list[Row]]]


async def _warm_phase(s: Sampler, http: aiohttp.ClientSession, url: str, key: str) -> list[Row]:
    started = s.now()
    ok = await warm_up(http, url, key, 500)
    return [
        ("started (readyz answered, encodings loaded)", f"{started:.1f}", ""),
        ("after 500 plain calls", f"{s.now():.1f}", f"{ok} answered 200"),
    ]


def _huge_phase(what: str, label: str) -> Phase:
    async def phase(s: Sampler, http: aiohttp.ClientSession, url: str, key: str) -> list[Row]:
        before = s.now()
        answer = await huge(http, url, key, what)
        await asyncio.sleep(1.0)
        note = f"+{s.peak - before:.1f} MiB over {before:.1f} at peak; {answer}"
        return [(f"{label}: peak / after", f"{s.peak:.1f} / {s.now():.1f}", note)]

    return phase


def _idle_phase(n: int) -> Phase:
    async def phase(s: Sampler, http: aiohttp.ClientSession, url: str, key: str) -> list[Row]:
        return await _idle(s, url, n)

    return phase


async def _idle(s: Sampler, url: str, n: int) -> list[Row]:
    before = s.now()
    started = time.monotonic()
    writers = await idle_connections(int(url.rsplit(":", 1)[1]), n)
    opened_s = time.monotonic() - started
    await asyncio.sleep(3.0)
    held = s.now()
    for w in writers:
        w.close()
    await asyncio.sleep(3.0)
    per = (held - before) * 1024 / n
    note = f"+{held - before:.1f} MiB over {before:.1f} (~{per:.1f} KiB each)"
    note += f"; opened in {opened_s:.1f} s"
    return [
        (f"{n:,} idle keep-alive connections", f"{held:.1f}", note),
        (f"after closing the {n:,}", f"{s.now():.1f}", ""),
    ]  # fmt: skip


def _stream_phase(n: int) -> Phase:
    async def phase(s: Sampler, http: aiohttp.ClientSession, url: str, key: str) -> list[Row]:
        return await _streams(s, http, url, key, n)

    return phase


async def _streams(
    s: Sampler, http: aiohttp.ClientSession, url: str, key: str, n: int
) -> list[Row]:
    before = s.now()
    s.reset()
    opened: list[int] = []
    tasks = [asyncio.create_task(stream_one(http, url, key, opened)) for _ in range(n)]
    await asyncio.sleep(5.0)
    while len(opened) < n and not all(t.done() for t in tasks):  # noqa: ASYNC110 (a count)
        await asyncio.sleep(0.5)
    all_open = s.now()
    statuses = await asyncio.gather(*tasks)
    await asyncio.sleep(3.0)  # settled, in-process settler drained
    ok = sum(st == 200 for st in statuses)
    length = rss_upstream.STREAM_CHUNKS * rss_upstream.CHUNK_DELAY_S
    return [
        (f"{n:,} concurrent streams ({length:.0f} s each), all open", f"{all_open:.1f}",
         f"+{all_open - before:.1f} MiB over {before:.1f}; {ok} answered 200"),
        (f"{n:,} streams: peak / after they ended", f"{s.peak:.1f} / {s.now():.1f}", ""),
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.bench.rss", description=__doc__)
    p.add_argument("--idle", type=int, default=10_000)
    p.add_argument("--streams", type=int, default=1_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mw-rss-") as tmp:
        rows = uvloop.run(measure(args, Path(tmp)))
    lines = [
        f"- run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"Python {platform.python_version()}; gateway WORKERS=1 pinned to CPU {GATEWAY_CPU}",
        "",
        "| condition | RSS MiB | note |",
        "|---|---:|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rss-latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
