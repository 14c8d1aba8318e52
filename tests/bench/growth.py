"""`python -m tests.bench.growth [--quick]`: what Meterway adds as the work per request grows.

Issue 17 asks how the metered path's cost moves with the work: prompts of 1 KB to 1 MB (the
gateway parses, validates and tokenizes every prompt to reserve its worst case) and streams
of 10 to 1,000 chunks (every event is parsed and tallied). Each size runs at concurrency 1
against the bare aiohttp pass-through and against `meterway serve`, interleaved, on the
same nginx upstream; the figures are the added latency and the added CPU per request, and
for streams the added CPU per chunk, which must stay flat as streams get longer. A last
phase measures whether tokenizing large prompts stalls the event loop: the p99 of small
requests alone, then while 1 MB prompts run beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

from tests.bench import fixtures
from tests.bench.__main__ import _prepare
from tests.bench.load import Run, wrk
from tests.bench.procs import free_port
from tests.bench.report import publish
from tests.bench.targets import LOAD_CPU, Target, start_bare, start_meterway
from tests.bench.upstream import MODEL, start_nginx

STALL_DELAY_MS = 250  # the 1 MB side load: one connection, a pause of 250 ms per request
SIZES = (1_000, 10_000, 100_000, 1_000_000)
HISTORIES = (8_000, 32_000)  # earlier turns resent by a conversation, bytes
SYSTEM_BYTES, TURN_BYTES = 2_000, 200
MARK = "@@TURN@@ "  # numbered per request by tests/bench/wrk/post.lua
# One OpenAI-wire provider per stream length, each pointed at nginx's /sse<N>/v1/ location.
STREAMED = {10: ("GOOGLE", "gemini-2.5-flash"), 100: ("DEEPSEEK", "deepseek-chat")}
STREAMED[1000] = ("MISTRAL", "mistral-small-latest")
TEXT = (
    "the meter counts every token a provider bills and reserves the worst case before it "
    "forwards so concurrent requests never spend credit that is not there while streams "
    "pass through chunk by chunk and settle to the actual cost once the usage arrives"
)
VOCABULARY = tuple(TEXT.split(" "))


@dataclass(frozen=True)
class Arm:
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # CPU per request of the proxy process(es)
    errors: int


def prompt_text(size: int) -> str:
    words, total, i = [], 0, 0
    while total < size:
        word = VOCABULARY[i % len(VOCABULARY)] + ("." if i % 17 == 16 else "")
        words.append(word)
        total += len(word) + 1
        i += 1
    return " ".join(words)[:size]


def write_body(
    path: Path, model: str, size: int = 40, stream: bool = False, new: bool = False
) -> Path:
    """`new`: the text is numbered afresh on every request (see the module's docstring)."""
    text = MARK + prompt_text(size - len(MARK)) if new else prompt_text(size)
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 64,
    }
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    path.write_text(json.dumps(body))
    return path


def write_conversation(path: Path, history: int) -> Path:
    """A system prompt and `history` bytes of earlier turns, the same on every request,
    then a new user turn."""
    messages = [{"role": "system", "content": prompt_text(SYSTEM_BYTES)}]
    for i in range(history // 1_000):
        role = "assistant" if i % 2 else "user"
        messages.append({"role": role, "content": f"{i} " + prompt_text(1_000 - 2)})
    messages.append({"role": "user", "content": MARK + prompt_text(TURN_BYTES)})
    path.write_text(json.dumps({"model": MODEL, "messages": messages, "max_tokens": 64}))
    return path


def measure(t: Target, keys: Path, body: Path, seconds: float, org: str, c: int = 1) -> Arm:
    before = t.cpu()
    run = wrk(
        t.url,
        keys=keys,
        body=body,
        stream=False,
        connections=c,
        seconds=seconds,
        cpu=LOAD_CPU,
        org=org,
    )
    used = t.cpu() - before
    cpu = used * 1000 / run.requests if run.requests else 0.0
    return Arm(run.p50_ms, run.p99_ms, cpu, run.non2xx + run.socket_errors)


def paired(
    bare: Target, mw: Target, keys: Path, bodies: tuple[Path, Path], org: str, d: Durations
) -> tuple[Arm, Arm]:
    """Interleaved rounds; per arm the median of each figure over the rounds."""
    runs: dict[str, list[Arm]] = {"bare": [], "mw": []}
    for _ in range(d.rounds):
        runs["bare"].append(measure(bare, keys, bodies[0], d.seconds, org))
        runs["mw"].append(measure(mw, keys, bodies[1], d.seconds, org))

    def med(arms: list[Arm]) -> Arm:
        return Arm(
            statistics.median(a.p50_ms for a in arms),
            statistics.median(a.p99_ms for a in arms),
            statistics.median(a.cpu_ms for a in arms),
            sum(a.errors for a in arms),
        )

    return med(runs["bare"]), med(runs["mw"])


@dataclass(frozen=True)
class Durations:
    seconds: float
    rounds: int
    stall_s: float


FULL = Durations(seconds=4, rounds=3, stall_s=8)
QUICK = Durations(seconds=2, rounds=1, stall_s=4)


def _marginal(last: tuple[int, float] | None, units: int, added_ms: float, scale: float,
              unit: str) -> str:  # fmt: skip
    """Added CPU per extra unit since the previous row: flat means the cost is linear."""
    if last is None:
        return "-"
    return f"{(added_ms - last[1]) * scale / (units - last[0]):.1f} {unit}"


def _row(work: str, bare: Arm, mw: Arm, per: str = "") -> str:
    added_cpu = mw.cpu_ms - bare.cpu_ms
    return (
        f"| {work} | {bare.p50_ms:.2f} | {mw.p50_ms:.2f} | {mw.p50_ms - bare.p50_ms:+.2f} "
        f"| {mw.p99_ms / bare.p99_ms:.2f}x | {bare.cpu_ms:.2f} | {mw.cpu_ms:.2f} "
        f"| {added_cpu:+.2f} | {mw.cpu_ms / bare.cpu_ms:.2f}x | {per} | {mw.errors} |"
    )


def _load(t: Target, keys: Path, body: Path, c: int, seconds: float, delay_ms: int = 0) -> Run:
    return wrk(
        t.url,
        keys=keys,
        body=body,
        stream=False,
        connections=c,
        seconds=seconds,
        cpu=LOAD_CPU,
        delay_ms=delay_ms,
    )


def stall(mw: Target, keys: Path, small: Path, large: Path, seconds: float) -> tuple[Run, Run]:
    """Small requests' p99 alone, then beside 1 MB prompts arriving about 4 a second.

    The side load is paced, not saturating: on one pinned core a saturating side load
    would measure CPU sharing, not whether the loop stalls. If tokenizing ran on the event
    loop, every small request arriving during one (~50 ms) would wait it out and the p99
    would rise to that; counted in a thread that releases the GIL, it should not move much.
    """
    alone = _load(mw, keys, small, 4, seconds)
    side = threading.Thread(target=_load, args=(mw, keys, large, 1, seconds, STALL_DELAY_MS))
    side.start()
    beside = _load(mw, keys, small, 4, seconds)
    side.join()
    return alone, beside


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.growth", description=__doc__)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    d = QUICK if args.quick else FULL
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mwgrowth-") as tmp:
        work = Path(tmp)
        settings, _ = _prepare(work, argparse.Namespace(accounts=10, keys=100))
        keys = work / "keys-all.txt"
        upstream = start_nginx(free_port(), LOAD_CPU)
        streams = {
            f"{env}_BASE_URL": f"{upstream.url}/sse{n}/v1" for n, (env, _) in STREAMED.items()
        }
        streams |= {f"{env}_API_KEY": "bench-upstream-key" for env, _ in STREAMED.values()}
        bare = start_bare(upstream.url, work)
        mw = start_meterway(upstream.url, settings.config_dir, work, extra_env=streams)
        try:
            small = write_body(work / "small.json", MODEL)
            for t in (bare, mw):
                measure(t, keys, small, 1, "plain")  # warm
            lines += [
                "| Work (c=1) | Bare p50 ms | Meterway p50 ms | Added ms | p99 ratio "
                "| Bare CPU ms/req | Meterway CPU ms/req | Added CPU ms/req | CPU ratio "
                "| Added CPU per extra unit | Errors |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
            ]
            last: tuple[int, float] | None = None
            for size in SIZES:
                body = write_body(work / f"prompt-{size}.json", MODEL, size, new=True)
                b, m = paired(bare, mw, keys, (body, body), "plain", d)
                added = m.cpu_ms - b.cpu_ms
                per = _marginal(last, size, added, 1e6, "ns/byte")
                lines.append(_row(f"prompt {size:,} B", b, m, per))
                print(lines[-1], flush=True)
                last = (size, added)
            for history in HISTORIES:
                body = write_conversation(work / f"conversation-{history}.json", history)
                b, m = paired(bare, mw, keys, (body, body), "plain", d)
                label = f"conversation: {history:,} B of earlier turns resent, {TURN_BYTES} B new"
                lines.append(_row(label, b, m))
                print(lines[-1], flush=True)
            last = None
            for n, (_, model) in STREAMED.items():
                bare_body = write_body(work / f"sse-bare-{n}.json", MODEL, stream=True)
                mw_body = write_body(work / f"sse-mw-{n}.json", model, stream=True)
                b, m = paired(bare, mw, keys, (bare_body, mw_body), f"sse{n}", d)
                added = m.cpu_ms - b.cpu_ms
                per = _marginal(last, n, added, 1000, "us/chunk")
                lines.append(_row(f"stream of {n:,} chunks", b, m, per))
                print(lines[-1], flush=True)
                last = (n, added)
            large = write_body(work / "prompt-large.json", MODEL, 1_000_000)
            alone, beside = stall(mw, keys, small, large, d.stall_s)
            lines += [
                "",
                "| Small requests on Meterway (c=4) | p50 ms | p99 ms | req/s |",
                "|---|---:|---:|---:|",
                f"| alone | {alone.p50_ms:.2f} | {alone.p99_ms:.2f} | {alone.rps:,.0f} |",
                f"| beside 1 MB prompts (~4/s, 1 connection) | {beside.p50_ms:.2f} "
                f"| {beside.p99_ms:.2f} | {beside.rps:,.0f} |",
                f"| p99 ratio | | {beside.p99_ms / alone.p99_ms:.2f}x | |",
            ]
        finally:
            for t in (mw, bare):
                t.close()
            upstream.close()
            uvloop.run(fixtures.drop_prefix())
            uvloop.run(fixtures.drop_database())
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    head = [
        "# Meterway growth benchmark",
        "",
        f"- run: {'--quick' if args.quick else 'full'}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average after: {load}",
        f"- c=1, {d.rounds} interleaved round(s) of {d.seconds:g}s per arm; medians; "
        "proxy on CPU 0, wrk and nginx on CPU 1",
        "",
    ]
    text = "\n".join(head + lines) + "\n"
    publish("growth.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
