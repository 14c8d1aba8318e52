"""Driving load with wrk (pinned to the load CPU) and reading its summary line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.bench.upstream import MODEL, STREAM_MODEL

HERE = Path(__file__).resolve().parent
LINE = re.compile(r"BENCH (.*)")


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_body(path: Path, stream: bool) -> None:
    path.write_text(json.dumps(chat_body(STREAM_MODEL if stream else MODEL, stream)))


def chat_body(model: str, stream: bool) -> dict[str, object]:
    """The benches' chat completion request: a short prompt, 64 tokens at most."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello and offer to help."},
        ],
        "max_tokens": 64,
    }
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def wrk(
    url: str,
    *,
    keys: Path,
    body: Path,
    stream: bool,
    connections: int,
    seconds: float,
    cpu: int | str,
    delay_ms: int = 0,
    org: str | None = None,
    threads: int = 1,
) -> Run:
    """`org` picks nginx's answer for the bare proxy (default: "sse" or "plain"); `cpu` is
    taskset's list ("2-3" for two wrk threads on two cores)."""
    env = {
        **os.environ,
        "BENCH_KEYS": str(keys),
        "BENCH_BODY": str(body),
        "BENCH_ORG": org or ("sse" if stream else "plain"),
        "BENCH_DELAY": str(delay_ms),
    }
    argv = ["taskset", "-c", str(cpu), "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    argv += ["--timeout", "10s", "-s", str(HERE / "wrk" / "post.lua"), url]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    return parse_summary(out)


def parse_summary(out: str) -> Run:
    """The BENCH line the wrk scripts' `done` prints (post.lua, soak.lua)."""
    match = LINE.search(out)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    f = {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
    return Run(
        requests=f["requests"],
        seconds=f["duration_us"] / 1e6,
        non2xx=f["status"],
        socket_errors=f["connect"] + f["read"] + f["write"] + f["timeout"],
        p50_ms=f["p50_us"] / 1000,
        p99_ms=f["p99_us"] / 1000,
    )
